import { type SQL, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { eventOutbox, eventOutboxPending, webhookFeed } from '../../db/schema.js';
import { type Actor, envelopeAround, type NewEvent } from './events.js';

/**
 * Writes events to the outbox, called inside the transaction of the change they describe; each is
 * marked pending for the RabbitMQ publisher when `pending` (AMQP_URL is set: see outboxConsumers).
 */
export async function recordEvents(tx: Executor, events: NewEvent[], pending = true): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => sql`(${e.body.id}::uuid, ${e.body.type}, ${e.aggregateKey}, ${JSON.stringify(e.body)}::json)`);
  await tx.execute(sql`WITH written AS (
      INSERT INTO ${eventOutbox} (event_id, type, aggregate_key, payload) VALUES ${sql.join(rows, sql`, `)}
      RETURNING id, aggregate_key
    )
    INSERT INTO ${eventOutboxPending} (id, aggregate_key) SELECT id, aggregate_key FROM written WHERE ${pending}::boolean`);
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
  /** Whether the event is marked pending for the RabbitMQ publisher (AMQP_URL set). */
  pending: boolean;
}

/**
 * The outbox inserts to put in a write's WITH clause (after its other CTEs, with a comma before):
 * the event of each row of `from`, with the same envelope as newEvent (byte for byte: the body is
 * built as text, in the documented order), and its pending mark when `pending`. Two CTEs, as
 * PostgreSQL allows a data-modifying statement only at the top level of a WITH; the flags are
 * parameters, so the statement's text (and its prepared plan) is the same whatever they are.
 */
export function outboxInsert(event: OutboxStatement): SQL {
  // Events off: the same statement (the same prepared text), with nothing built for it to write.
  const { head, middle, tail, eventId } = event.record
    ? envelopeAround(event.type, event.actor, event.subjectType)
    : { head: '', middle: '', tail: '', eventId: NIL_UUID };
  const row = sql.identifier(event.from);
  return sql`outbox_event AS (
    INSERT INTO ${eventOutbox} (event_id, type, aggregate_key, payload)
    SELECT ${eventId}::uuid, ${event.type}::text, ${`${event.subjectType}:`}::text || ${row}.id,
      (${head}::text || ${row}.id || ${middle}::text || (${event.data}) || ${tail}::text)::json
    FROM ${row}
    WHERE ${event.record}::boolean${event.where ? sql` AND (${event.where})` : sql``}
    RETURNING id, aggregate_key
  ), outbox_pending AS (
    INSERT INTO ${eventOutboxPending} (id, aggregate_key) SELECT id, aggregate_key FROM outbox_event WHERE ${event.pending}::boolean
  )`;
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
     * Claims up to `limit` pending events, oldest first, hands them to `publish`, and deletes their
     * pending marks, all in one transaction: if `publish` throws, nothing is marked and the events
     * stay pending for later.
     *
     * Pending marks are locked FOR UPDATE SKIP LOCKED, so publishers running at once claim different
     * events. An event is only taken when no earlier pending event of its aggregate (task or user) is
     * left out of the claim: such an event is held by another publisher that has not finished with
     * it, and taking the later one would let it overtake. (An event of the same aggregate cannot be
     * invisible here: the later one was written after the earlier one committed, since both writes
     * lock the task's row.)
     *
     * The publisher's own database (events/index.ts) commits without waiting for the WAL flush: a
     * mark lost in a crash only means its events are published again (at least once; consumers
     * de-duplicate on the event id).
     */
    async claim(limit: number, publish: (rows: OutboxRow[]) => Promise<void>): Promise<number> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.execute<{ id: number; event_id: string; type: string; body: string; created_at: string }>(sql`
          WITH claimed AS (
            SELECT id, aggregate_key
            FROM ${eventOutboxPending}
            ORDER BY id
            LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          )
          SELECT e.id, e.event_id, e.type, e.payload::text AS body, e.created_at
          FROM claimed c
          JOIN ${eventOutbox} e ON e.id = c.id
          WHERE NOT EXISTS (
            SELECT 1 FROM ${eventOutboxPending} earlier
            WHERE earlier.aggregate_key = c.aggregate_key
              AND earlier.id < c.id
              AND earlier.id NOT IN (SELECT id FROM claimed)
          )
          ORDER BY e.id`);
        if (rows.length === 0) return 0;
        await publish(
          rows.map((r) => ({ id: r.id, eventId: r.event_id, type: r.type, body: r.body, createdAt: new Date(r.created_at) })),
        );
        // One parameter, an array, whatever the batch's size: the same statement text every time.
        await tx.execute(
          sql`DELETE FROM ${eventOutboxPending} WHERE id = ANY(${`{${rows.map((r) => r.id).join(',')}}`}::bigint[])`,
        );
        return rows.length;
      });
    },

    async pendingCount(): Promise<number> {
      const { rows } = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${eventOutboxPending}`);
      return rows[0]?.n ?? 0;
    },

    /**
     * Deletes published events written more than `hours` ago; pending events are never pruned, nor
     * (with `webhooksOn`) events the webhook feed has not passed yet.
     */
    async pruneSent(hours: number, webhooksOn: boolean): Promise<number> {
      const result = await db.execute(
        sql`DELETE FROM ${eventOutbox} e
          WHERE e.created_at < now() - make_interval(hours => ${hours})
            AND NOT EXISTS (SELECT 1 FROM ${eventOutboxPending} p WHERE p.id = e.id)
            AND (NOT ${webhooksOn}::boolean OR (e.xid, e.id) <= (SELECT f.xid, f.outbox_id FROM ${webhookFeed} f))`,
      );
      return result.rowCount ?? 0;
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
