import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type Database = NodePgDatabase<typeof schema>;
/** A transaction of the database. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Where a repository's statements go: the pool's database, or a transaction. */
export type Executor = Database | Transaction;

const INT8_OID = 20;

// Ids and counts are bigint in SQL; they stay far below 2^53, so numbers are exact and simpler for clients.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PoolOptions {
  max: number;
  applicationName?: string;
  /** Server-side limit on one statement. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (from the pool or a new one) before failing. */
  connectionTimeoutMs?: number;
  /** Every transaction read-only (replicas): a safety net should a write ever be sent to one. */
  readOnly?: boolean;
  /**
   * Commits return before their WAL is flushed: only for work that is safe to redo after a crash
   * (the events publisher's "sent" marks: a lost one means an event is sent again).
   */
  asynchronousCommit?: boolean;
}

export function createPool(connectionString: string, options: PoolOptions): pg.Pool {
  return new pg.Pool({
    connectionString,
    max: options.max,
    types,
    application_name: options.applicationName ?? 'task-api',
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    // Client-side bound too: a server that stops answering (network cut) cannot hang a request.
    query_timeout: (options.statementTimeoutMs ?? 30_000) + 2_000,
    keepAlive: true,
    ...sessionSettings(options),
  });
}

/** Settings every connection of the pool starts with (sent at connect time: no extra round trip). */
function sessionSettings(options: PoolOptions): { options: string } {
  const settings = [
    // Timestamps come back as text that Drizzle hands to `new Date`: in UTC they always read back
    // exactly, whatever the server's TimeZone (a zone's local mean time, `+00:53:28`, would not).
    '-c TimeZone=UTC',
    ...(options.readOnly ? ['-c default_transaction_read_only=on'] : []),
    ...(options.asynchronousCommit ? ['-c synchronous_commit=off'] : []),
  ];
  return { options: settings.join(' ') };
}

export function createDatabase(pool: pg.Pool): Database {
  return drizzle(pool, { schema });
}
