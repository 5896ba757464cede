/**
 * What a database error means, read from the error and those it wraps: Drizzle wraps the driver's
 * errors in `cause` (DrizzleQueryError → pg DatabaseError), and a connection error may wrap another.
 */

/** The fields read from an error or from one it wraps; any may be absent. */
export interface ErrorFields {
  name?: string;
  message?: string;
  stack?: string;
  code?: string;
  severity?: string;
  routine?: string;
  table?: string;
  column?: string;
  constraint?: string;
  query?: unknown;
  cause?: unknown;
}

/** Deep enough for Drizzle's wrapping and a wrapped connection error; a cycle of causes ends here too. */
const MAX_DEPTH = 4;

/** The one walk down `cause`: the error, then what it wraps, outermost first. */
export function* causeChain(error: unknown): Generator<ErrorFields> {
  for (let e = error as ErrorFields | undefined, depth = 0; e && depth < MAX_DEPTH; depth++) {
    yield e;
    e = e.cause as ErrorFields | undefined;
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The first error in the chain that carries a SQLSTATE: PostgreSQL's own error, with its constraint and table. */
export function postgresError(error: unknown): ErrorFields | undefined {
  for (const e of causeChain(error)) if (typeof e.code === 'string' && SQLSTATE.test(e.code)) return e;
  return undefined;
}

export const sqlState = (error: unknown): string | undefined => postgresError(error)?.code;

export const UNIQUE_VIOLATION = '23505';

const DEADLOCK_DETECTED = '40P01';

/**
 * Runs a transaction, and once more if PostgreSQL broke a deadlock by aborting it (nothing of it
 * committed, so running it again is safe). For writes whose lock order cannot be fixed in advance
 * in every case (a label's tasks are known only once read).
 */
export async function retryingDeadlock<T>(transaction: () => Promise<T>): Promise<T> {
  try {
    return await transaction();
  } catch (error) {
    if (sqlState(error) !== DEADLOCK_DETECTED) throw error;
    return transaction();
  }
}

/**
 * The database is down, restarting, overloaded or too slow: answered 503 with Retry-After, never a
 * 500 or a hang (connection and statement timeouts bound the wait).
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
]);
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error/;

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const e of causeChain(error)) {
    if ((e.code && (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('08'))) || UNAVAILABLE_MESSAGES.test(e.message ?? ''))
      return true;
  }
  return false;
}

/** PostgreSQL errors caused by the input, not by us (a value out of range, a NUL byte): a 422, not a 500. */
const INPUT_SQLSTATES = new Set(['22P05', '22021', '22001', '22003', '22007', '22008']);

export function isUnstorableInput(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && INPUT_SQLSTATES.has(state);
}

/**
 * What of an error may be logged. Drizzle's query errors carry the SQL and its parameters (a
 * password hash, an email, a token digest) in `message` and `params`, and PostgreSQL's own messages
 * may quote a value ("invalid input syntax for type integer: …"): for a database error only its
 * SQLSTATE and where it arose are logged; other errors (bugs) keep their message and stack.
 */
export function loggable(error: unknown): Record<string, unknown> {
  const outer = error as ErrorFields;
  const [, wrapped] = causeChain(error);
  const inner = outer.query !== undefined && wrapped instanceof Error ? (wrapped as ErrorFields) : outer;
  if (inner.severity !== undefined || outer.query !== undefined) {
    const { code, routine, table, column, constraint } = inner;
    return { type: 'DatabaseError', code, routine, table, column, constraint };
  }
  return { type: inner.name, message: inner.message, code: inner.code, stack: inner.stack };
}
