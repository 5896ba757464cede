import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { causeChain, isDatabaseUnavailable, isUnstorableInput, loggable, postgresError, sqlState } from '../../src/db/errors.js';

/**
 * The classification on its own, from errors built by hand the way pg and Drizzle shape them: no
 * database. test/db/errors.test.ts checks the same functions against errors a real PostgreSQL raises.
 */

/** PostgreSQL's own error as pg raises it: an Error with the SQLSTATE and where it arose. */
function pgError(code: string, message = 'an error', fields: Partial<pg.DatabaseError> = {}): pg.DatabaseError {
  return Object.assign(new pg.DatabaseError(message, message.length, 'error'), { severity: 'ERROR', code, ...fields });
}

/** Drizzle's wrapper: the SQL and its parameters in message and params, the driver's error in cause. */
function drizzleError(cause: unknown, params: unknown[] = []): Error {
  const query = 'insert into "users" ("username", "password_hash") values ($1, $2)';
  return Object.assign(new Error(`Failed query: ${query}\nparams: ${params.join(',')}`, { cause }), {
    name: 'DrizzleQueryError',
    query,
    params,
  });
}

describe('the walk down cause', () => {
  it('yields nothing for no error', () => {
    expect([...causeChain(undefined)]).toEqual([]);
    expect([...causeChain(null)]).toEqual([]);
  });

  it('finds the first error carrying a SQLSTATE, past codes that are not one', () => {
    const inner = pgError('23505', 'duplicate key', { constraint: 'users_username_key' });
    const outer = { code: 'ECONNRESET', cause: { code: '2350', cause: { code: 'abcde', cause: inner } } };
    expect(postgresError(outer)).toBe(inner);
    expect(sqlState(drizzleError(inner))).toBe('23505');
    expect(postgresError({ code: 23505 })).toBeUndefined();
    expect(sqlState(new Error('no code'))).toBeUndefined();
  });
});

describe('unavailable: a 503, not a 500', () => {
  it.each([
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
    '08006',
    '08001',
  ])('code %s, itself or wrapped', (code) => {
    expect(isDatabaseUnavailable({ code })).toBe(true);
    expect(isDatabaseUnavailable(drizzleError({ message: 'wrapped', cause: { code } }))).toBe(true);
  });

  it.each([
    'timeout exceeded when trying to connect',
    'Connection terminated unexpectedly',
    'Query read timeout',
    'Client has encountered a connection error and is not queryable',
  ])('message "%s", wrapped', (message) => {
    expect(isDatabaseUnavailable(drizzleError(new Error(message)))).toBe(true);
  });

  it('not a constraint, a serialization failure, a syntax error or a bug', () => {
    for (const code of ['23505', '40001', '42703', '22003'])
      expect(isDatabaseUnavailable(drizzleError(pgError(code)))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is not a function'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});

describe('unstorable input: a 422, not a 500', () => {
  it.each(['22P05', '22021', '22001', '22003', '22007', '22008'])('SQLSTATE %s under Drizzle', (code) => {
    expect(isUnstorableInput(drizzleError(pgError(code)))).toBe(true);
  });

  it('not another SQLSTATE, nor an error without one', () => {
    for (const code of ['23505', '42703', '22P02', '57014']) expect(isUnstorableInput(drizzleError(pgError(code)))).toBe(false);
    expect(isUnstorableInput(new Error('22003'))).toBe(false);
    expect(isUnstorableInput(undefined)).toBe(false);
  });
});

describe('what a log line may hold', () => {
  it('a query error under Drizzle: the driver error’s SQLSTATE and place, never the SQL, its parameters or the message', () => {
    const cause = pgError('23505', 'duplicate key value violates unique constraint', {
      routine: '_bt_check_unique',
      table: 'users',
      column: 'username',
      constraint: 'users_username_key',
    });
    const logged = loggable(drizzleError(cause, ['alice', '$2b$10$secrethash']));
    expect(logged).toEqual({
      type: 'DatabaseError',
      code: '23505',
      routine: '_bt_check_unique',
      table: 'users',
      column: 'username',
      constraint: 'users_username_key',
    });
    expect(JSON.stringify(logged)).not.toMatch(/secrethash|alice|insert/);
  });

  it('PostgreSQL’s own error, unwrapped: its message may quote a value, so it is left out', () => {
    const logged = loggable(pgError('22P02', 'invalid input syntax for type integer: "hunter2"', { routine: 'pg_strtoint32' }));
    expect(logged).toMatchObject({ type: 'DatabaseError', code: '22P02', routine: 'pg_strtoint32' });
    expect(JSON.stringify(logged)).not.toContain('hunter2');
  });

  it('a query error whose cause is not an Error is still a database error, without the SQL', () => {
    const logged = loggable(drizzleError({ message: 'not an Error', code: '23505' }, ['token-digest']));
    expect(logged).toMatchObject({ type: 'DatabaseError' });
    expect(JSON.stringify(logged)).not.toMatch(/token-digest|insert|not an Error/);
  });

  it('any other error (a bug) keeps its name, message and stack', () => {
    const bug = new TypeError('cannot read properties of undefined');
    expect(loggable(bug)).toEqual({ type: 'TypeError', message: bug.message, code: undefined, stack: bug.stack });
  });
});
