import { type SQL, sql } from 'drizzle-orm';

/**
 * Reading the outbox in commit order, for every reader that follows it past a position (the webhook
 * feed, each instance's live stream feed).
 *
 * Event ids come from a sequence taken at insert, so a lower id can commit after a higher one: a
 * reader of `id > cursor` would skip it for good. Each outbox row records its transaction's id
 * (`xid`), and a reader takes only rows of transactions older than every transaction running now
 * (`xid < pg_snapshot_xmin(pg_current_snapshot())`): those have all ended, so no row can still
 * appear below that line. Read in (xid, id) order past a position on (xid, id), every committed row
 * is read exactly once. The price: a transaction left open anywhere on the server holds readers
 * back until it ends (nothing is lost). Within one task the ids are in commit order (two writes of
 * a task take its row lock); across tasks (xid, id) order is close to, not exactly, commit order
 * (modules/webhooks/delivery-repository.ts explains it).
 */

/** The row's transaction has ended, and so has every older one: nothing can still appear below it. */
export const settled = (alias: string): SQL => sql`${sql.raw(alias)}.xid < pg_snapshot_xmin(pg_current_snapshot())`;

/** A position in the outbox: the (xid, id) of a row, xid as text (xid8 is 64 bits). */
export interface OutboxPosition {
  xid: string;
  id: number;
}

/** The row comes after `position` (a range of the (xid, id) index). */
export const after = (alias: string, position: OutboxPosition): SQL =>
  sql`(${sql.raw(alias)}.xid, ${sql.raw(alias)}.id) > (${position.xid}::xid8, ${position.id}::bigint)`;
