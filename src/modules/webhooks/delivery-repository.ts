import { sql } from 'drizzle-orm';
import type { WebhookDeliveryStatus } from '../../db/enums.js';
import type { Database, Executor } from '../../db/pool.js';
import { eventOutbox, users, webhookDeliveries, webhookFeed, webhooks } from '../../db/schema.js';
import { settled } from '../feed/commit-order.js';
import { eventFacts, visibleToUser } from '../feed/visibility.js';
import { ALL_EVENTS } from './events.js';

/** A status written as a literal, so that the planner matches the partial indexes' predicate. */
const is = (column: string, status: WebhookDeliveryStatus) => sql.raw(`${column} = '${status}'`);

/** The feed's position as a row comparison of two InitPlans: an index range on (xid, id), read once. */
const pastFeed = (alias: string) =>
  sql`(${sql.raw(alias)}.xid, ${sql.raw(alias)}.id) > ((SELECT xid FROM ${webhookFeed}), (SELECT outbox_id FROM ${webhookFeed}))`;

/** A delivery claimed for an attempt (`attempts` counts it), with what sending it needs. */
export interface ClaimedDelivery {
  id: number;
  webhookId: number;
  ownerId: number;
  eventId: string;
  eventType: string;
  /** The outbox payload, verbatim. */
  body: string;
  attempts: number;
  url: string;
  sealedSecret: Buffer;
  /** Whether the webhook's owner may see what the event is about, now. */
  visible: boolean;
}

/** What an attempt's row records: the response's status, or why there was none; how long it took. */
export interface AttemptRecord {
  responseStatus?: number | undefined;
  durationMs?: number | undefined;
  error?: string | undefined;
}

type Raw<T> = { [K in keyof T]: T[K] extends number ? number | string : T[K] };

/**
 * The webhook feed and the deliveries' queue.
 *
 * Reading the outbox in commit order: only settled rows, in (xid, id) order past the feed's cursor
 * (feed/commit-order.ts). Whether an owner may see an event: feed/visibility.ts, asked when the
 * feed makes the delivery (so nobody's deliveries list shows events they could never see) and again
 * at the moment it is sent (what the owner may see can change in between).
 *
 * Order per task. (xid, id) is not commit order: a transaction takes its xid at its first write,
 * which may come before it waits for a task's row lock. Say T2 got xid 100, then waits on task A's
 * lock held by T1 (xid 101, event id 50); T1 commits, T2 writes event 51 of A and commits. Both rows
 * become readable together (T2 held the line below 101), and the feed reads 51 (xid 100) before 50.
 * Within one task, though, the event ids ARE in commit order: two writes of a task take its row lock,
 * so the second inserts its event (and takes its id) after the first committed. So deliveries are
 * ordered by the outbox id (`seq`) per (webhook, aggregate_key): a delivery waits while an earlier one
 * is pending, and while the feed has not yet passed an earlier event of the same aggregate (the
 * outbox rows past the cursor: a short index range, the feed's backlog). An event of the task still
 * being written cannot be earlier: its writer holds the task's lock, so no later event of it exists.
 */
export function createDeliveryRepository(db: Database) {
  return {
    /**
     * One round of the fan-out: up to `limit` outbox rows past the cursor turn into deliveries for
     * the active webhooks subscribed to their type (created before the event) whose owners may see
     * what the event is about, and
     * the cursor moves past them, in one statement. The cursor row is locked SKIP LOCKED: while
     * another instance's round holds it, this one reads nothing. Returns the rows read and deliveries made.
     */
    async fanOut(limit: number): Promise<{ read: number; fanned: number }> {
      const { rows } = await db.execute<{ read: number; fanned: number }>(sql`
        WITH feed AS (
          SELECT xid, outbox_id FROM ${webhookFeed} WHERE id = 1 FOR UPDATE SKIP LOCKED
        ), batch AS (
          SELECT o.id, o.xid, o.event_id, o.type, o.aggregate_key, o.payload, o.created_at
          FROM ${eventOutbox} o
          WHERE (o.xid, o.id) > ((SELECT xid FROM feed), (SELECT outbox_id FROM feed))
            AND ${settled('o')}
          ORDER BY o.xid, o.id
          LIMIT ${limit}
        ), fanned AS (
          INSERT INTO ${webhookDeliveries} (webhook_id, seq, event_id, event_type, aggregate_key, payload)
          SELECT w.id, b.id, b.event_id, b.type, b.aggregate_key, b.payload
          FROM batch b
          CROSS JOIN LATERAL (${eventFacts(sql`b.payload`)}) f
          JOIN ${webhooks} w ON w.active AND (b.type = ANY(w.event_types) OR ${ALL_EVENTS}::text = ANY(w.event_types))
            AND w.created_at <= b.created_at
          JOIN ${users} u ON u.id = w.user_id
          WHERE ${visibleToUser('f')}
          ORDER BY b.xid, b.id
          RETURNING 1
        ), moved AS (
          UPDATE ${webhookFeed} f SET xid = last.xid, outbox_id = last.id
          FROM (SELECT xid, id FROM batch ORDER BY xid DESC, id DESC LIMIT 1) last
          WHERE f.id = 1
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM batch)::int AS read, (SELECT count(*) FROM fanned)::int AS fanned`);
      return rows[0] ?? { read: 0, fanned: 0 };
    },

    /**
     * Up to `limit` due deliveries of active webhooks, each the earliest pending of its (webhook,
     * aggregate_key) with no earlier event of that aggregate still before the feed (see above).
     * A claim is a lease, as in the mail queue: the next attempt moves `leaseMs` ahead, so another
     * instance takes it only once the lease has run out (this one died mid-way). Rows another worker
     * holds are skipped, not waited for. Visibility is decided here, in the same statement.
     */
    async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
      const { rows } = await db.execute<
        Raw<Omit<ClaimedDelivery, 'webhookId' | 'ownerId' | 'eventId' | 'eventType' | 'sealedSecret'>> & {
          webhook_id: string;
          owner_id: string;
          event_id: string;
          event_type: string;
          secret: Buffer;
        }
      >(sql`
        WITH claimed AS (
          UPDATE ${webhookDeliveries} d
          SET attempts = d.attempts + 1, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond', last_attempt_at = now()
          WHERE d.id IN (
            SELECT p.id FROM ${webhookDeliveries} p JOIN ${webhooks} w ON w.id = p.webhook_id
            WHERE ${is('p.status', 'pending')} AND p.next_attempt_at <= now() AND w.active
              AND NOT EXISTS (
                SELECT 1 FROM ${webhookDeliveries} e
                WHERE e.webhook_id = p.webhook_id AND e.aggregate_key = p.aggregate_key AND ${is('e.status', 'pending')} AND e.seq < p.seq
              )
              AND NOT EXISTS (SELECT 1 FROM ${eventOutbox} o WHERE ${pastFeed('o')} AND o.aggregate_key = p.aggregate_key AND o.id < p.seq)
            ORDER BY p.next_attempt_at, p.id
            LIMIT ${limit}
            FOR UPDATE OF p SKIP LOCKED
          )
          RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.payload, d.attempts
        )
        SELECT c.id, c.webhook_id, w.user_id AS owner_id, c.event_id, c.event_type, c.payload::text AS body, c.attempts,
          w.url, w.secret, ${visibleToUser('f')} AS visible
        FROM claimed c CROSS JOIN LATERAL (${eventFacts(sql`c.payload`)}) f
        JOIN ${webhooks} w ON w.id = c.webhook_id JOIN ${users} u ON u.id = w.user_id
        ORDER BY c.id`);
      return rows.map((r) => ({
        id: Number(r.id),
        webhookId: Number(r.webhook_id),
        ownerId: Number(r.owner_id),
        eventId: r.event_id,
        eventType: r.event_type,
        body: r.body,
        attempts: Number(r.attempts),
        url: r.url,
        sealedSecret: r.secret,
        visible: r.visible,
      }));
    },

    /** A 2xx: delivered, and the webhook's run of failures ends. Only while this worker's claim holds. */
    async delivered(delivery: ClaimedDelivery, record: AttemptRecord): Promise<void> {
      await db.execute(sql`
        WITH done AS (
          UPDATE ${webhookDeliveries} SET status = 'delivered', response_status = ${record.responseStatus ?? null},
            duration_ms = ${record.durationMs ?? null}, error = NULL
          WHERE id = ${delivery.id} AND attempts = ${delivery.attempts} AND ${is('status', 'pending')}
          RETURNING webhook_id
        )
        UPDATE ${webhooks} SET consecutive_failures = 0 WHERE id IN (SELECT webhook_id FROM done) AND consecutive_failures <> 0`);
    },

    /** A failed attempt with attempts left: the next one in `delayMs`. */
    async retryLater(delivery: ClaimedDelivery, record: AttemptRecord, delayMs: number): Promise<void> {
      await db.execute(sql`
        UPDATE ${webhookDeliveries} SET next_attempt_at = now() + ${delayMs} * interval '1 millisecond',
          response_status = ${record.responseStatus ?? null}, duration_ms = ${record.durationMs ?? null}, error = ${record.error ?? null}
        WHERE id = ${delivery.id} AND attempts = ${delivery.attempts} AND ${is('status', 'pending')}`);
    },

    /** Its owner may not see it now: recorded as skipped, never sent. */
    async skipped(delivery: ClaimedDelivery): Promise<void> {
      await db.execute(sql`
        UPDATE ${webhookDeliveries} SET status = 'skipped', error = 'not visible to the owner when it was due'
        WHERE id = ${delivery.id} AND attempts = ${delivery.attempts} AND ${is('status', 'pending')}`);
    },

    /**
     * The last attempt failed: the delivery has failed, and the webhook's run of failures grows.
     * Returns the run's length (undefined when the claim no longer held). In the caller's transaction.
     */
    async gaveUp(tx: Executor, delivery: ClaimedDelivery, record: AttemptRecord): Promise<number | undefined> {
      const { rows } = await tx.execute<{ failures: number }>(sql`
        WITH failed AS (
          UPDATE ${webhookDeliveries} SET status = 'failed', response_status = ${record.responseStatus ?? null},
            duration_ms = ${record.durationMs ?? null}, error = ${record.error ?? null}
          WHERE id = ${delivery.id} AND attempts = ${delivery.attempts} AND ${is('status', 'pending')}
          RETURNING webhook_id
        )
        UPDATE ${webhooks} SET consecutive_failures = consecutive_failures + 1
        WHERE id IN (SELECT webhook_id FROM failed) AND active
        RETURNING consecutive_failures AS failures`);
      return rows[0]?.failures;
    },

    /**
     * Disables the webhook (when still active) and fails its pending deliveries; returns it as its
     * event shows it: without its URL, which may carry the receiver's token and the event goes to
     * RabbitMQ too.
     */
    async disable(tx: Executor, webhookId: number, reason: string): Promise<Record<string, unknown> | undefined> {
      const { rows } = await tx.execute<Record<string, unknown>>(sql`
        WITH off AS (
          UPDATE ${webhooks} SET active = false, disabled_reason = ${reason} WHERE id = ${webhookId} AND active
          RETURNING id, user_id, description, event_types AS events, active, disabled_reason, created_at, updated_at
        ), cancelled AS (
          UPDATE ${webhookDeliveries} SET status = 'failed', error = 'the webhook was disabled'
          WHERE webhook_id IN (SELECT id FROM off) AND ${is('status', 'pending')}
        )
        SELECT * FROM off`);
      const row = rows[0];
      const at = (value: unknown) => new Date(value as string).toISOString();
      return (
        row && {
          ...row,
          id: Number(row.id),
          user_id: Number(row.user_id),
          created_at: at(row.created_at),
          updated_at: at(row.updated_at),
        }
      );
    },

    /** Deletes finished deliveries (delivered, failed, skipped) older than `hours`; pending ones stay. */
    async pruneFinished(hours: number): Promise<number> {
      const result = await db.execute(sql`
        DELETE FROM ${webhookDeliveries}
        WHERE created_at < now() - make_interval(hours => ${hours}) AND NOT ${is('status', 'pending')}`);
      return result.rowCount ?? 0;
    },
  };
}

export type DeliveryRepository = ReturnType<typeof createDeliveryRepository>;
