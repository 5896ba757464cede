import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { eventOutbox, streamTickets, users } from '../../db/schema.js';
import { after, type OutboxPosition, settled } from '../feed/commit-order.js';
import { eventFacts, visibleToUser } from '../feed/visibility.js';
import { START } from './position.js';

const digest = (ticket: string) => createHash('sha256').update(ticket).digest();

/** An outbox row as the stream sends it: its position, type and body (the payload, verbatim). */
export interface StreamEvent extends OutboxPosition {
  type: string;
  body: string;
}

/** A row of the feed's batch, with the connected users who may see it. */
export interface FeedRow extends StreamEvent {
  viewers: number[];
}

/** One array parameter whatever the count: the statement's text stays the same. */
const idArray = (ids: readonly number[]) => `{${ids.join(',')}}`;

/** The outbox as the live stream reads it (commit order: feed/commit-order.ts), and the stream tickets. */
export function createStreamRepository(db: Database) {
  return {
    /** The last settled row's position (where a feed starting now begins), or the start of time. */
    async end(): Promise<OutboxPosition> {
      const { rows } = await db.execute<{ xid: string; id: string }>(sql`
        SELECT o.xid::text AS xid, o.id FROM ${eventOutbox} o WHERE ${settled('o')} ORDER BY o.xid DESC, o.id DESC LIMIT 1`);
      const row = rows[0];
      return row ? { xid: row.xid, id: Number(row.id) } : START;
    },

    /**
     * Up to `limit` settled rows past `from`, in (xid, id) order, each with those of `userIds` who
     * may see it now: one statement for the batch and every connected user.
     */
    async batch(from: OutboxPosition, userIds: readonly number[], limit: number): Promise<FeedRow[]> {
      const { rows } = await db.execute<{ xid: string; id: string; type: string; body: string; viewers: string[] }>(sql`
        SELECT b.xid::text AS xid, b.id, b.type, b.payload::text AS body,
          ARRAY(SELECT u.id FROM ${users} u WHERE u.id = ANY(${idArray(userIds)}::bigint[]) AND ${visibleToUser('f')}) AS viewers
        FROM (
          SELECT o.xid, o.id, o.type, o.payload FROM ${eventOutbox} o
          WHERE ${after('o', from)} AND ${settled('o')}
          ORDER BY o.xid, o.id LIMIT ${limit}
        ) b
        CROSS JOIN LATERAL (${eventFacts(sql`b.payload`)}) f
        ORDER BY b.xid, b.id`);
      return rows.map((r) => ({ xid: r.xid, id: Number(r.id), type: r.type, body: r.body, viewers: r.viewers.map(Number) }));
    },

    /** Up to `limit` rows in (`from`, `to`] that `userId` may see now, in order: a reconnecting client's replay. */
    async replay(userId: number, from: OutboxPosition, to: OutboxPosition, limit: number): Promise<StreamEvent[]> {
      const { rows } = await db.execute<{ xid: string; id: string; type: string; body: string }>(sql`
        SELECT o.xid::text AS xid, o.id, o.type, o.payload::text AS body
        FROM ${eventOutbox} o CROSS JOIN LATERAL (${eventFacts(sql`o.payload`)}) f JOIN ${users} u ON u.id = ${userId}
        WHERE ${after('o', from)} AND (o.xid, o.id) <= (${to.xid}::xid8, ${to.id}::bigint) AND ${visibleToUser('f')}
        ORDER BY o.xid, o.id LIMIT ${limit}`);
      return rows.map((r) => ({ xid: r.xid, id: Number(r.id), type: r.type, body: r.body }));
    },

    /** Whether the outbox still holds the row at `position` (not pruned: a replay from it is complete). */
    async holds(position: OutboxPosition): Promise<boolean> {
      const { rows } = await db.execute(
        sql`SELECT 1 FROM ${eventOutbox} WHERE xid = ${position.xid}::xid8 AND id = ${position.id} LIMIT 1`,
      );
      return rows.length > 0;
    },

    /** Asks every instance's feed to read the outbox now (LISTEN task_api_outbox). */
    async notify(channel: string): Promise<void> {
      await db.execute(sql`SELECT pg_notify(${channel}, '')`);
    },

    /** A new ticket for the login, valid `seconds`. */
    async issueTicket(ticket: string, userId: number, sessionId: string, seconds: number): Promise<Date> {
      const [row] = await db
        .insert(streamTickets)
        .values({ tokenHash: digest(ticket), userId, sessionId, expiresAt: sql`now() + make_interval(secs => ${seconds})` })
        .returning({ expiresAt: streamTickets.expiresAt });
      if (!row) throw new Error('ticket insert returned no row');
      return row.expiresAt;
    },

    /** Spends a ticket: its login when it was live, unexpired and unused (it is used from now on). */
    async redeemTicket(ticket: string): Promise<{ userId: number; sessionId: string } | undefined> {
      const { rows } = await db.execute<{ user_id: string; session_id: string }>(sql`
        UPDATE ${streamTickets} SET used_at = now()
        WHERE token_hash = ${digest(ticket)} AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, session_id`);
      const row = rows[0];
      return row && { userId: Number(row.user_id), sessionId: row.session_id };
    },

    /** Deletes tickets expired (used or not) more than a minute ago. */
    async pruneTickets(): Promise<number> {
      const result = await db.execute(sql`DELETE FROM ${streamTickets} WHERE expires_at < now() - interval '1 minute'`);
      return result.rowCount ?? 0;
    },
  };
}

export type StreamRepository = ReturnType<typeof createStreamRepository>;
