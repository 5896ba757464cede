import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, startApp, type TestContext, testConfig } from '../../helpers/app.js';
import { createTestDatabase } from '../../helpers/db.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';

// due_at on a task: set on create, PUT and PATCH, returned in UTC, null by default and to clear it.

let ctx: TestContext;
type User = Awaited<ReturnType<typeof registerAndLogin>>;
type Method = 'PUT' | 'PATCH';
let user: User;

beforeAll(async () => {
  ctx = await setupTestApp();
  user = await registerAndLogin(ctx.api, 'due');
});
afterAll(() => ctx.close());

/** Timestamps as the API writes every one of them (created_at alike): UTC, milliseconds, Z. */
const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function create(body: Record<string, unknown>): Promise<HttpResponse<TaskBody>> {
  return ctx.api.post<TaskBody>('/tasks', body, { token: user.token });
}

async function created(body: Record<string, unknown>): Promise<TaskBody> {
  const res = await create(body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const fetched = async (id: number) => (await ctx.api.get<TaskBody>(`/tasks/${id}`, { token: user.token })).body;

/** The column itself, as PostgreSQL holds it (epoch milliseconds), or null. */
async function storedDueAt(id: number): Promise<number | null> {
  const { rows } = await ctx.db.pool.query<{ ms: string | null }>(
    'SELECT (extract(epoch FROM due_at) * 1000)::bigint AS ms FROM tasks WHERE id = $1',
    [id],
  );
  return rows[0]?.ms === null || rows[0]?.ms === undefined ? null : Number(rows[0].ms);
}

function expectValidationError(res: HttpResponse, field: string, location = 'body') {
  expect(res.status, res.text).toBe(422);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.errors.map((e: { field: string; location: string }) => `${e.location}:${e.field}`)).toContain(
    `${location}:${field}`,
  );
}

// Each sent value and the instant it names, written as the API returns it.
const EQUIVALENTS: Array<[string, string]> = [
  ['2026-12-24T18:00:00+01:00', '2026-12-24T17:00:00.000Z'],
  ['2026-12-24T17:00:00Z', '2026-12-24T17:00:00.000Z'],
  ['2026-12-24t12:00:00-05:00', '2026-12-24T17:00:00.000Z'],
  ['2026-12-24T17:00:00.5z', '2026-12-24T17:00:00.500Z'],
  ['2026-12-25T00:30:00+07:30', '2026-12-24T17:00:00.000Z'],
  // Digits past the millisecond are dropped, never rounded into the next one.
  ['2026-12-24T17:00:00.123999999Z', '2026-12-24T17:00:00.123Z'],
  // Across a day, month and year boundary.
  ['2027-01-01T00:30:00+01:00', '2026-12-31T23:30:00.000Z'],
  // A leap second is the next second.
  ['2016-12-31T23:59:60Z', '2017-01-01T00:00:00.000Z'],
  // The extremes: four-digit years, in UTC.
  ['1000-01-01T00:00:00Z', '1000-01-01T00:00:00.000Z'],
  ['1000-01-01T00:30:00+00:30', '1000-01-01T00:00:00.000Z'],
  ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
  ['9999-12-31T23:59:59.999-00:00', '9999-12-31T23:59:59.999Z'],
];

describe('POST /tasks with due_at', () => {
  it('without due_at: due_at is null, and the task is otherwise as before', async () => {
    const task = await created({ title: 'no due date' });
    expect(task.due_at).toBeNull();
    expect(task).toMatchObject({ title: 'no due date', description: null, status: 'pending', priority: 'medium' });
    expect(await fetched(task.id)).toEqual(task);
    expect(await storedDueAt(task.id)).toBeNull();
  });

  it('an explicit null is the same as leaving it out', async () => {
    const task = await created({ title: 'null due date', due_at: null });
    expect(task.due_at).toBeNull();
    expect(await storedDueAt(task.id)).toBeNull();
  });

  it.each(EQUIVALENTS)('%s is stored and returned as %s (UTC, like created_at)', async (sent, shown) => {
    const task = await created({ title: `due ${sent}`, due_at: sent });
    expect(task.due_at).toBe(shown);
    expect(task.due_at).toMatch(ISO_UTC_MS);
    expect(task.created_at).toMatch(ISO_UTC_MS);
    expect(await fetched(task.id)).toEqual(task);
    expect(await storedDueAt(task.id)).toBe(Date.parse(shown));
  });

  it.each([
    ['a date without a time', '2026-12-24'],
    ['a time without an offset (local time)', '2026-12-24T18:00:00'],
    ['an offset without a colon', '2026-12-24T18:00:00+0100'],
    ['an offset of hours only', '2026-12-24T18:00:00+01'],
    ['a space instead of T', '2026-12-24 18:00:00Z'],
    ['minutes only', '2026-12-24T18:00Z'],
    ['30 February', '2026-02-30T10:00:00Z'],
    ['29 February of a common year', '2027-02-29T10:00:00Z'],
    ['month 13', '2026-13-01T10:00:00Z'],
    ['hour 24', '2026-12-24T24:00:00Z'],
    ['minute 60', '2026-12-24T18:60:00Z'],
    ['an offset of 24 hours', '2026-12-24T18:00:00+24:00'],
    ['a leap second that is not at 23:59 UTC', '2026-12-24T18:00:60Z'],
    ['a five-digit year', '10000-01-01T00:00:00Z'],
    ['ten fraction digits', '2026-12-24T18:00:00.1234567890Z'],
    ['an empty string', ''],
    ['text', 'tomorrow'],
    ['a Unix timestamp as text', '1798131600'],
    ['surrounding white space', ' 2026-12-24T18:00:00Z'],
    ['a NUL character', '2026-12-24T18:00:00Z\u0000'],
    // Valid RFC 3339, but before year 1000 or after year 9999 once in UTC.
    ['year 1', '0001-01-01T00:00:00Z'],
    ['year 999', '0999-12-31T23:59:59.999Z'],
    ['an instant before year 1000 in UTC', '1000-01-01T00:00:00+00:01'],
    ['an instant after year 9999 in UTC', '9999-12-31T23:30:00-01:00'],
  ])('refuses %s (422 naming due_at, nothing stored)', async (case_, due_at) => {
    const title = `refused due: ${case_}`;
    expectValidationError(await create({ title, due_at }), 'due_at');
    const { rows } = await ctx.db.pool.query('SELECT 1 FROM tasks WHERE title = $1', [title]);
    expect(rows).toHaveLength(0);
  });

  it.each([
    ['a number', 1798131600000],
    ['a boolean', true],
    ['an object', { at: '2026-12-24T18:00:00Z' }],
    ['an array', ['2026-12-24T18:00:00Z']],
  ])('refuses %s (422 naming due_at)', async (_case, due_at) => {
    expectValidationError(await create({ title: 'refused due type', due_at }), 'due_at');
  });

  it('a retried create with the same Idempotency-Key and the same instant in another offset is a replay', async () => {
    const headers = { 'idempotency-key': `due-${Date.now()}` };
    const first = await ctx.api.post<TaskBody>(
      '/tasks',
      { title: 'idempotent due', due_at: '2026-12-24T18:00:00+01:00' },
      { token: user.token, headers },
    );
    expect(first.status, first.text).toBe(201);
    const retry = await ctx.api.post<TaskBody>(
      '/tasks',
      { title: 'idempotent due', due_at: '2026-12-24T17:00:00Z' },
      { token: user.token, headers },
    );
    expect(retry.status, retry.text).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
    const other = await ctx.api.post(
      '/tasks',
      { title: 'idempotent due', due_at: '2026-12-24T18:00:00Z' },
      { token: user.token, headers },
    );
    expectValidationError(other, 'idempotency-key', 'headers');
  });

  it('a response stored before tasks had a due date replays with due_at null', async () => {
    const key = `old-${Date.now()}`;
    const first = await ctx.api.post<TaskBody>(
      '/tasks',
      { title: 'stored long ago' },
      { token: user.token, headers: { 'idempotency-key': key } },
    );
    expect(first.status).toBe(201);
    // The stored response as an earlier version of task-api wrote it: no due_at.
    await ctx.db.pool.query(
      "UPDATE idempotency_keys SET response_body = response_body - 'due_at' WHERE user_id = $1 AND key = $2 RETURNING 1",
      [user.id, key],
    );
    const { rows } = await ctx.db.pool.query('SELECT response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2', [
      user.id,
      key,
    ]);
    expect(rows[0].response_body).not.toHaveProperty('due_at');
    const retry = await ctx.api.post<TaskBody>(
      '/tasks',
      { title: 'stored long ago' },
      { token: user.token, headers: { 'idempotency-key': key } },
    );
    expect(retry.status, retry.text).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
  });
});

describe.each([['PUT'], ['PATCH']] as Array<[Method]>)('%s /tasks/:id with due_at', (method) => {
  const send = (id: number, body: unknown) => ctx.api.request(method, `/tasks/${id}`, body, { token: user.token });

  it('sets, moves (another offset, stored in UTC) and clears (null) the due date, keeping the other fields', async () => {
    const task = await created({ title: `${method} due`, description: 'kept', priority: 'high' });
    let previous = task;
    for (const [due_at, shown] of [
      ['2026-12-24T18:00:00+01:00', '2026-12-24T17:00:00.000Z'],
      ['2027-03-01T09:15:30.250-08:00', '2027-03-01T17:15:30.250Z'],
      [null, null],
    ] as const) {
      const res = await send(task.id, { due_at });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ ...previous, due_at: shown, updated_at: res.body.updated_at });
      expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(previous.updated_at));
      expect(await fetched(task.id)).toEqual(res.body);
      expect(await storedDueAt(task.id)).toBe(shown === null ? null : Date.parse(shown));
      previous = res.body;
    }
  });

  it('a change without due_at keeps the due date', async () => {
    const task = await created({ title: `${method} keeps due`, due_at: '2026-12-24T18:00:00+01:00' });
    const res = await send(task.id, { title: 'renamed', status: 'in_progress' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ title: 'renamed', status: 'in_progress', due_at: '2026-12-24T17:00:00.000Z' });
  });

  it('the same instant in another offset changes nothing (the ETag stays)', async () => {
    const task = await created({ title: `${method} same instant`, due_at: '2026-12-24T17:00:00Z' });
    const before = await ctx.api.get(`/tasks/${task.id}`, { token: user.token });
    const res = await send(task.id, { due_at: '2026-12-24T18:00:00+01:00' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual(task);
    expect(res.headers.get('etag')).toBe(before.headers.get('etag'));
  });

  it.each(['2026-12-24', '2026-12-24T18:00:00', '2026-02-30T10:00:00Z', 'soon', '', '1000-01-01T00:00:00+01:00'])(
    'refuses due_at %j (422) and changes nothing',
    async (due_at) => {
      const task = await created({ title: `${method} refused`, due_at: '2026-12-24T17:00:00Z' });
      expectValidationError(await send(task.id, { due_at }), 'due_at');
      expect(await fetched(task.id)).toEqual(task);
    },
  );
});

describe('on a database server whose time zone is not UTC', () => {
  it('a due date from the days of local mean time (+00:53:28 in Berlin) reads back exactly', async () => {
    const db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    await db.pool.query(`ALTER DATABASE ${name} SET TimeZone = 'Europe/Berlin'`);
    const app = await startApp(testConfig(db.url));
    const plain = new pg.Client({ connectionString: db.url });
    try {
      // A connection that does not ask for UTC is answered in that zone's local mean time.
      await plain.connect();
      const { rows } = await plain.query("SELECT '1800-01-01T00:00:00Z'::timestamptz::text AS shown");
      expect(rows[0].shown).toBe('1800-01-01 00:53:28+00:53:28');

      const berliner = await registerAndLogin(app.api, 'berlin');
      const res = await app.api.post<TaskBody>(
        '/tasks',
        { title: 'very old', due_at: '1800-01-01T00:53:28+00:53' },
        { token: berliner.token },
      );
      expect(res.status, res.text).toBe(201);
      expect(res.body.due_at).toBe('1800-01-01T00:00:28.000Z');
      expect((await app.api.get<TaskBody>(`/tasks/${res.body.id}`, { token: berliner.token })).body).toEqual(res.body);
      const listed = await app.api.get<TaskBody[]>('/tasks?due_before=1800-01-02T00:00:00Z', { token: berliner.token });
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body).toEqual([res.body]);
    } finally {
      await plain.end();
      await app.close();
      await db.drop();
    }
  });
});
