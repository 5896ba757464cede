import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { eventOutbox } from '../../db/schema.js';
import { type Actor, envelopeAround, type NewEvent } from './events.js';
import type { Executor } from './unit-of-work.js';

/** Writes events to the outbox; called inside the transaction of the change they describe. */
export async function recordEvents(tx: Executor, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx
    .insert(eventOutbox)
    .values(events.map((e) => ({ eventId: e.body.id, type: e.body.type, aggregateKey: e.aggregateKey, payload: e.body })));
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** One event per row of a data-modifying CTE, written by the same statement (see outboxInsert). */
export interface OutboxStatement {
  /** The CTE whose rows changed: it has an `id` column, the subject's id. */
  from: string;
  type: string;
  actor: Actor | null;
  subjectType: string;
  /** The event's `data`, as JSON text, from the CTE's row (referred to by the CTE's name). */
  data: SQL;
  /** Which rows make an event (say, an update that changed something). */
  where?: SQL | undefined;
  /** False when events are off: the insert then writes nothing. */
  record: boolean;
}

/**
 * The outbox insert to put in a write's WITH clause: the event of each row of `from`, with the
 * same envelope as newEvent (byte for byte: the body is built as text, in the documented order).
 */
export function outboxInsert(event: OutboxStatement): SQL {
  // Events off: the same statement (the same prepared text), with nothing built for it to write.
  const { head, middle, tail, eventId } = event.record
    ? envelopeAround(event.type, event.actor, event.subjectType)
    : { head: '', middle: '', tail: '', eventId: NIL_UUID };
  const row = sql.identifier(event.from);
  return sql`INSERT INTO ${eventOutbox} (event_id, type, aggregate_key, payload)
    SELECT ${eventId}::uuid, ${event.type}::text, ${`${event.subjectType}:`}::text || ${row}.id,
      (${head}::text || ${row}.id || ${middle}::text || (${event.data}) || ${tail}::text)::json
    FROM ${row}
    WHERE ${event.record}::boolean${event.where ? sql` AND (${event.where})` : sql``}`;
}

/** An outbox row ready to publish; `body` is the message body, verbatim. */
export interface OutboxRow {
  id: number;
  eventId: string;
  type: string;
  body: string;
  createdAt: Date;
}

export function createOutboxRepository(db: Database) {
  return {
    /**
     * Claims up to `limit` unsent rows, oldest first, hands them to `publish`, and marks them sent,
     * all in one transaction: if `publish` throws, nothing is marked and the rows stay for later.
     *
     * Rows are locked FOR UPDATE SKIP LOCKED, so publishers running at once claim different rows.
     * A row is only taken when no earlier unsent row of its aggregate (task or user) is left out of
     * the claim: such a row is locked by another publisher that has not finished with it, and taking
     * the later one would let it overtake. (A row of the same aggregate cannot be invisible here: the
     * later one was written after the earlier one committed, since both writes lock the task's row.)
     */
    async claim(limit: number, publish: (rows: OutboxRow[]) => Promise<void>): Promise<number> {
      return db.transaction(async (tx) => {
        // The mark need not wait for its WAL flush: should a crash lose it, the rows are published
        // again (delivery is at least once; consumers de-duplicate on the event id).
        await tx.execute(sql`SET LOCAL synchronous_commit = off`);
        const { rows } = await tx.execute<{ id: number; event_id: string; type: string; body: string; created_at: string }>(sql`
          WITH claimed AS (
            SELECT id, event_id, type, aggregate_key, payload::text AS body, created_at
            FROM ${eventOutbox}
            WHERE sent_at IS NULL
            ORDER BY id
            LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          )
          SELECT c.id, c.event_id, c.type, c.body, c.created_at
          FROM claimed c
          WHERE NOT EXISTS (
            SELECT 1 FROM ${eventOutbox} earlier
            WHERE earlier.aggregate_key = c.aggregate_key
              AND earlier.sent_at IS NULL
              AND earlier.id < c.id
              AND earlier.id NOT IN (SELECT id FROM claimed)
          )
          ORDER BY c.id`);
        if (rows.length === 0) return 0;
        await publish(
          rows.map((r) => ({ id: r.id, eventId: r.event_id, type: r.type, body: r.body, createdAt: new Date(r.created_at) })),
        );
        // One parameter, an array, whatever the batch's size: the same statement text every time.
        await tx.execute(
          sql`UPDATE ${eventOutbox} SET sent_at = now() WHERE id = ANY(${`{${rows.map((r) => r.id).join(',')}}`}::bigint[])`,
        );
        return rows.length;
      });
    },

    async pendingCount(): Promise<number> {
      const { rows } = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${eventOutbox} WHERE sent_at IS NULL`);
      return rows[0]?.n ?? 0;
    },

    /** Deletes rows sent more than `hours` ago; unsent rows are never pruned. */
    async pruneSent(hours: number): Promise<number> {
      const result = await db.execute(
        sql`DELETE FROM ${eventOutbox} WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(hours => ${hours})`,
      );
      return result.rowCount ?? 0;
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
