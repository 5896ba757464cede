import { lt, sql } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Executor } from './pool.js';

/**
 * Deletes the rows of `table` whose `expiresAt` has passed (the maintenance job, for every kind of
 * expiring token): how many it deleted. One statement over the table's expires_at index.
 */
export async function deleteExpired(db: Executor, table: PgTable, expiresAt: PgColumn): Promise<number> {
  const result = await db.delete(table).where(lt(expiresAt, sql`now()`));
  return result.rowCount ?? 0;
}
