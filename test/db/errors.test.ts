import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  causeChain,
  isDatabaseUnavailable,
  isUnstorableInput,
  loggable,
  postgresError,
  retryingDeadlock,
  sqlState,
  UNIQUE_VIOLATION,
} from '../../src/db/errors.js';
import { createDatabase, createPool, type Database } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
let pool: ReturnType<typeof createPool>;
let database: Database;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, { max: 1 });
  database = createDatabase(pool);
  await database.execute(sql`CREATE TABLE keys (k int CONSTRAINT keys_k_key UNIQUE)`);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const failure = (query: ReturnType<typeof sql>) =>
  database.execute(query).then(
    () => expect.unreachable('the query succeeded'),
    (err: unknown) => err,
  );

describe('database error classification (errors as Drizzle throws them, from a real PostgreSQL)', () => {
  it('finds the SQLSTATE and constraint of a unique violation under Drizzle wrapper', async () => {
    await database.execute(sql`INSERT INTO keys VALUES (1)`);
    const error = await failure(sql`INSERT INTO keys VALUES (${1})`);
    expect((error as { code?: string }).code).toBeUndefined(); // Drizzle's wrapper carries none itself
    expect(postgresError(error)).toMatchObject({ code: UNIQUE_VIOLATION, constraint: 'keys_k_key' });
    expect(isDatabaseUnavailable(error)).toBe(false);
    expect(isUnstorableInput(error)).toBe(false);
  });

  it('tells a value the database cannot store (input, a 422) from one that is our fault', async () => {
    const outOfRange = await failure(sql`SELECT ${40_000}::smallint`);
    expect(sqlState(outOfRange)).toBe('22003');
    expect(isUnstorableInput(outOfRange)).toBe(true);
    const badSql = await failure(sql`SELECT nope`);
    expect(sqlState(badSql)).toBe('42703');
    expect(isUnstorableInput(badSql)).toBe(false);
    expect(loggable(badSql)).toMatchObject({ type: 'DatabaseError', code: '42703' });
  });

  it('reads a statement timeout and a refused connection as unavailable', async () => {
    await database.execute(sql`SET statement_timeout = 50`);
    try {
      const timedOut = await failure(sql`SELECT pg_sleep(1)`);
      expect(sqlState(timedOut)).toBe('57014');
      expect(isDatabaseUnavailable(timedOut)).toBe(true);
    } finally {
      await database.execute(sql`RESET statement_timeout`);
    }
    const closed = createPool('postgres://postgres@127.0.0.1:1/none', { max: 1 });
    try {
      const refused = await createDatabase(closed)
        .execute(sql`SELECT 1`)
        .then(
          () => expect.unreachable('connected to port 1'),
          (err: unknown) => err,
        );
      expect(isDatabaseUnavailable(refused)).toBe(true);
      expect(sqlState(refused)).toBeUndefined();
    } finally {
      await closed.end();
    }
  });

  it('walks a bounded number of causes, and ends on a cycle', () => {
    const deep = {
      message: 'a',
      cause: { message: 'b', cause: { message: 'c', cause: { code: '23505', cause: { code: '22003' } } } },
    };
    expect([...causeChain(deep)].map((e) => e.message ?? e.code)).toEqual(['a', 'b', 'c', '23505']);
    expect(sqlState(deep)).toBe('23505');
    expect(isUnstorableInput(deep)).toBe(false); // 22003 is five levels down: beyond the walk
    const cyclic: { message: string; cause?: unknown } = { message: 'loop' };
    cyclic.cause = cyclic;
    expect([...causeChain(cyclic)]).toHaveLength(4);
    expect(isDatabaseUnavailable(cyclic)).toBe(false);
  });
});

describe('retryingDeadlock', () => {
  it('runs a transaction PostgreSQL aborted to break a deadlock once more; both sides then commit', async () => {
    // Two connections: one per side.
    const twoPool = createPool(db.url, { max: 2 });
    onTestFinished(() => twoPool.end());
    const twoSided = createDatabase(twoPool);
    const attempts = { a: 0, b: 0 };
    let held = 0;
    const bothHoldTheirFirst = async () => {
      held += 1;
      await expect.poll(() => held, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    };
    // Each takes one lock, waits until the other holds its own, then takes the other's: a deadlock.
    const side = (name: 'a' | 'b', first: number, second: number) =>
      retryingDeadlock(() =>
        twoSided.transaction(async (tx) => {
          attempts[name] += 1;
          await tx.execute(sql`SELECT pg_advisory_xact_lock(${first})`);
          if (attempts[name] === 1) await bothHoldTheirFirst();
          await tx.execute(sql`SELECT pg_advisory_xact_lock(${second})`);
          return name;
        }),
      );
    expect(await Promise.all([side('a', 91_001, 91_002), side('b', 91_002, 91_001)])).toEqual(['a', 'b']);
    // Exactly one side was chosen as the deadlock's victim and ran twice.
    expect(attempts.a + attempts.b).toBe(3);
  });

  it('passes any other error on, and does not retry it', async () => {
    let attempts = 0;
    const failing = retryingDeadlock(async () => {
      attempts += 1;
      await database.execute(sql`SELECT 1 / 0`);
    });
    await expect(failing).rejects.toSatisfy((error) => sqlState(error) === '22012');
    expect(attempts).toBe(1);
  });
});
