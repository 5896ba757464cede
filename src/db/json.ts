import { type SQL, sql } from 'drizzle-orm';

/** A timestamptz as the API shows it (Date.toISOString: UTC, milliseconds, 'Z'), for JSON built in SQL. */
export const isoTimestamp = (column: SQL): SQL => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
