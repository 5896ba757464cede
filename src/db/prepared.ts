import { createHash } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { QueryResult, QueryResultRow } from 'pg';
import type { Database } from './pool.js';

const dialect = new PgDialect();
/** One name per SQL text, the same in every repository and on every connection. */
const names = new Map<string, string>();

/**
 * Runs a hand-written statement as a named prepared statement (planned once per connection, as
 * Drizzle's `.prepare()` does for its builders): `db.execute` would parse and plan it every time.
 * `db`: the pool's database or a transaction (its statements go to the transaction's connection).
 */
export async function executePrepared<Row extends QueryResultRow>(
  db: Pick<Database, '_'>,
  statement: SQL,
): Promise<QueryResult<Row>> {
  const query = dialect.sqlToQuery(statement);
  let name = names.get(query.sql);
  if (!name) {
    name = `hand_${createHash('sha256').update(query.sql).digest('hex').slice(0, 24)}`;
    names.set(query.sql, name);
  }
  return (await db._.session.prepareQuery(query, undefined, name, false).execute()) as QueryResult<Row>;
}
