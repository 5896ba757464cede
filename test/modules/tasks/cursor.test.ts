import { fillPlaceholders } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { likePattern } from '../../../src/lib/pagination.js';
import { listQuery } from '../../../src/modules/tasks/list-query.js';
import { registerAndLogin, setupTestApp, startApp, type TestContext, testConfig } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';

let ctx: TestContext;
type User = Awaited<ReturnType<typeof registerAndLogin>>;
let walker: User;
let admin: User;

const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'status', 'title', 'due_at'] as const;
const SORTS = SORT_KEYS.flatMap((key) => [key, `-${key}`]);
const TASKS = 300;

/**
 * TASKS tasks with many ties on every sort key (a few titles, timestamps shared by several tasks and
 * with microseconds, a third without a due date), inserted in an order unrelated to any sort.
 */
async function seed(userId: number, n: number, salt: number): Promise<void> {
  await ctx.db.pool.query(
    `INSERT INTO tasks (user_id, title, description, status, priority, created_at, updated_at, due_at)
     SELECT $1,
       (ARRAY['Write report', 'write REPORT', 'Call Bob', 'buy milk', 'Zebra', 'alpha'])[1 + (k * 7 + $3) % 6],
       CASE WHEN k % 4 = 0 THEN NULL ELSE 'report draft ' || (k % 5) END,
       (ARRAY['pending', 'in_progress', 'completed'])[1 + (k * 5) % 3]::task_status,
       (ARRAY['low', 'medium', 'high'])[1 + (k * 11) % 3]::task_priority,
       timestamptz '2030-01-01' + ((k * 13) % 40) * interval '1.000001 minute',
       timestamptz '2030-02-01' + ((k * 17) % 25) * interval '1.5 second',
       CASE WHEN k % 3 = 0 THEN NULL ELSE timestamptz '2031-01-01' + ((k * 19) % 30) * interval '1 hour' END
     FROM generate_series(1, $2) AS k`,
    [userId, n, salt],
  );
}

/** The Link header as {rel: URL}. */
function links(res: HttpResponse): Record<string, URL> {
  const header = res.headers.get('link');
  expect(header).toBeTruthy();
  const out: Record<string, URL> = {};
  for (const part of (header ?? '').split(/,\s*(?=<)/)) {
    const match = /^<([^>]+)>;\s*rel="([a-z]+)"$/.exec(part.trim());
    if (!match) throw new Error(`unreadable Link part: ${part}`);
    out[match[2]!] = new URL(match[1]!, 'http://link.invalid');
  }
  return out;
}

const get = (user: User, url: URL | string) => {
  const target = typeof url === 'string' ? url : `${url.pathname.replace(/^\/api\/v1/, '')}${url.search}`;
  return ctx.api.get<TaskBody[]>(target, { token: user.token });
};

/** Every page by offset, joined. */
async function byOffset(user: User, path: string, query: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let offset = 0; ; offset += 100) {
    const res = await get(user, `${path}?${new URLSearchParams({ ...query, limit: '100', offset: String(offset) })}`);
    expect(res.status).toBe(200);
    out.push(...res.body.map((t) => t.id));
    if (res.body.length < 100) return out;
  }
}

/** Every page by cursor (following Link rel="next" from `cursor=`), joined; `between` runs between pages. */
async function byCursor(
  user: User,
  path: string,
  query: Record<string, string>,
  limit: number,
  between?: (page: number) => Promise<void>,
): Promise<{ ids: number[]; totals: string[] }> {
  const ids: number[] = [];
  const totals: string[] = [];
  let next: URL | undefined = new URL(
    `${path}?${new URLSearchParams({ ...query, limit: String(limit), cursor: '' })}`,
    'http://x',
  );
  for (let page = 0; next; page++) {
    expect(page).toBeLessThan(1000);
    const res = await get(user, next);
    expect(res.status, res.text).toBe(200);
    expect(res.body.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.map((t) => t.id));
    totals.push(res.headers.get('x-total-count') ?? '');
    const rels = links(res);
    expect(rels.last).toBeUndefined();
    expect(rels.prev).toBeUndefined();
    expect(rels.first?.searchParams.get('cursor')).toBe('');
    next = rels.next;
    if (next) {
      // The next link keeps every filter and the sort, and changes only the cursor.
      const kept = Object.fromEntries([...next.searchParams].filter(([k]) => k !== 'cursor'));
      expect(kept).toEqual({ ...query, limit: String(limit) });
      expect(next.searchParams.has('offset')).toBe(false);
      await between?.(page);
    }
  }
  return { ids, totals };
}

const problem = (res: HttpResponse) => {
  expect(res.status).toBe(422);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
  return res.body as { detail: string; errors?: Array<{ field: string; message: string }> };
};

/** A cursor from the first page of a walk. */
async function firstCursor(user: User, query: Record<string, string>, path = '/tasks'): Promise<string> {
  const res = await get(user, `${path}?${new URLSearchParams({ ...query, limit: '5', cursor: '' })}`);
  expect(res.status).toBe(200);
  const cursor = links(res).next?.searchParams.get('cursor');
  expect(cursor).toBeTruthy();
  return cursor as string;
}

beforeAll(async () => {
  ctx = await setupTestApp();
  walker = await registerAndLogin(ctx.api, 'walker');
  admin = await registerAndLogin(ctx.api, 'root');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  await seed(walker.id, TASKS, 0);
});
afterAll(() => ctx.close());

describe('walking by cursor', () => {
  it.each(SORTS)('sort=%s: every page by cursor joins into exactly the offset order, each task once', async (sort) => {
    const expected = await byOffset(walker, '/tasks', { sort });
    expect(expected).toHaveLength(TASKS);
    const walked = await byCursor(walker, '/tasks', { sort }, 37);
    expect(walked.ids).toEqual(expected);
    expect(new Set(walked.totals)).toEqual(new Set([String(TASKS)]));
  });

  it('the last page has no next link, also when the limit divides the total (no empty page after it)', async () => {
    const whole = await get(walker, `/tasks?cursor=&limit=100&sort=title`);
    expect(links(whole).next).toBeDefined();
    const exact = await byCursor(walker, '/tasks', { sort: 'title' }, 100);
    expect(exact.ids).toHaveLength(TASKS);
    expect(exact.totals).toHaveLength(3);
  });

  it("a cursor past every remaining task gives an empty page with the filters' exact total", async () => {
    const owner = await registerAndLogin(ctx.api, 'emptied');
    await seed(owner.id, 12, 3);
    const first = await get(owner, `/tasks?${new URLSearchParams({ sort: 'title', limit: '5', cursor: '' })}`);
    const next = links(first).next?.searchParams.get('cursor');
    expect(next).toBeTruthy();
    // Everything after the first page goes: the cursor now points past the last task.
    await ctx.db.pool.query('DELETE FROM tasks WHERE user_id = $1 AND NOT (id = ANY($2::bigint[]))', [
      owner.id,
      first.body.map((t) => t.id),
    ]);
    const past = await get(owner, `/tasks?${new URLSearchParams({ sort: 'title', limit: '5', cursor: next as string })}`);
    expect(past.status).toBe(200);
    expect(past.body).toEqual([]);
    expect(past.headers.get('x-total-count')).toBe('5');
  });

  it('filters are kept: a filtered walk is the filtered offset order, with its own total', async () => {
    const query = { status: 'pending,completed', q: 'REPORT', has_due: 'true', sort: '-due_at' };
    const expected = await byOffset(walker, '/tasks', query);
    expect(expected.length).toBeGreaterThan(20);
    expect(expected.length).toBeLessThan(TASKS);
    const walked = await byCursor(walker, '/tasks', query, 7);
    expect(walked.ids).toEqual(expected);
    expect(new Set(walked.totals)).toEqual(new Set([String(expected.length)]));
  });

  it("an admin's search across users by cursor is its offset order", async () => {
    const other = await registerAndLogin(ctx.api, 'other');
    await seed(other.id, 40, 3);
    for (const sort of ['-created_at', 'title', 'due_at']) {
      const query = { q: 'report', sort };
      const expected = await byOffset(admin, '/tasks', query);
      const owners = new Set<number>();
      for (const page of [0, 100]) {
        const res = await get(admin, `/tasks?${new URLSearchParams({ ...query, limit: '100', offset: String(page) })}`);
        for (const t of res.body) owners.add(t.user_id);
      }
      expect(owners.size).toBeGreaterThan(1);
      expect((await byCursor(admin, '/tasks', query, 50)).ids).toEqual(expected);
    }
  });
});

describe('walking by cursor while tasks are inserted and deleted', () => {
  it.each(SORTS)('sort=%s: no task that existed throughout is skipped or repeated', async (sort) => {
    const mover = await registerAndLogin(ctx.api, 'mover');
    await seed(mover.id, 120, 1);
    const before = await byOffset(mover, '/tasks', { sort });
    const deleted = new Set<number>();
    let n = 0;
    const walked = await byCursor(mover, '/tasks', { sort }, 15, async () => {
      // Two new tasks with sort values anywhere in the order, and two deletions (seen or not yet seen).
      for (const title of ['Call Bob', `mid ${n++}`]) {
        const made = await ctx.api.post(
          '/tasks',
          { title, priority: n % 2 ? 'high' : 'low', due_at: n % 3 ? `2031-01-01T0${n % 10}:00:00Z` : null },
          { token: mover.token },
        );
        expect(made.status).toBe(201);
      }
      for (const id of [before[(n * 7) % before.length], before[(n * 13 + 5) % before.length]]) {
        if (id === undefined || deleted.has(id)) continue;
        deleted.add(id);
        expect((await ctx.api.delete(`/tasks/${id}`, { token: mover.token })).status).toBe(204);
      }
    });
    expect(deleted.size).toBeGreaterThan(5);
    expect(new Set(walked.ids).size).toBe(walked.ids.length);
    const survivors = new Set(before.filter((id) => !deleted.has(id)));
    // The survivors' order now is their order before (their sort values did not change).
    const after = (await byOffset(mover, '/tasks', { sort })).filter((id) => survivors.has(id));
    expect(after).toEqual(before.filter((id) => survivors.has(id)));
    expect(walked.ids.filter((id) => survivors.has(id))).toEqual(after);
  });
});

describe('refused cursors', () => {
  it('an altered cursor is a 422 that says so', async () => {
    const cursor = await firstCursor(walker, { sort: 'title' });
    const bytes = Buffer.from(cursor, 'base64url');
    for (const at of [0, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const altered = Buffer.from(bytes);
      altered[at] = (altered[at] ?? 0) ^ 1;
      const body = problem(await get(walker, `/tasks?sort=title&cursor=${altered.toString('base64url')}`));
      expect(body.detail).toMatch(/cursor/i);
      expect(body.errors?.[0]?.field).toBe('cursor');
    }
    // A payload rewritten to point elsewhere, under its old MAC.
    const payload = bytes.subarray(0, bytes.length - 16).toString('utf8');
    const forged = Buffer.concat([Buffer.from(payload.replace(/"i":\d+/, '"i":1')), bytes.subarray(bytes.length - 16)]);
    expect(problem(await get(walker, `/tasks?sort=title&cursor=${forged.toString('base64url')}`)).detail).toMatch(/altered/);
  });

  it('a cursor for another sort or direction, or for other filters, is a 422', async () => {
    const cursor = await firstCursor(walker, { sort: 'title', status: 'pending' });
    for (const query of ['sort=-title&status=pending', 'sort=priority&status=pending']) {
      expect(problem(await get(walker, `/tasks?${query}&cursor=${cursor}`)).detail).toMatch(/another sort/);
    }
    for (const query of [
      'sort=title',
      'sort=title&status=completed',
      'sort=title&status=pending&q=x',
      'sort=title&status=pending&label=a',
    ]) {
      expect(problem(await get(walker, `/tasks?${query}&cursor=${cursor}`)).detail).toMatch(/other filters/);
    }
    // The same sort and filters, in another order of parameters: the same list.
    expect((await get(walker, `/tasks?status=pending&cursor=${cursor}&sort=title`)).status).toBe(200);
  });

  it("another list's cursor, or one made with another server secret, is a 422", async () => {
    const userCursor = await firstCursor(admin, {}, '/users');
    const users = await ctx.db.pool.query('SELECT count(*)::int AS n FROM users');
    expect(users.rows[0].n).toBeGreaterThan(5);
    expect(problem(await get(admin, `/tasks?sort=-created_at&cursor=${userCursor}`)).detail).toMatch(/cursor/);
    const taskCursor = await firstCursor(admin, {});
    expect(problem(await get(admin, `/users?cursor=${taskCursor}`)).detail).toMatch(/cursor/);

    // Another server secret (JWT_SECRET), the same password pepper: the walker can log in there.
    const elsewhere = await startApp(testConfig(ctx.db.url, { passwordPepper: ctx.config.passwordPepper }));
    try {
      const login = await elsewhere.api.post('/auth/login', { username: walker.username, password: walker.password });
      const foreign = await elsewhere.api.get(`/tasks?sort=title&limit=5&cursor=`, { token: login.body.access_token });
      const stale = links(foreign).next?.searchParams.get('cursor');
      expect(stale).toBeTruthy();
      // The same server secret would accept it; this app's does not.
      expect((await elsewhere.api.get(`/tasks?sort=title&cursor=${stale}`, { token: login.body.access_token })).status).toBe(200);
      expect(problem(await get(walker, `/tasks?sort=title&cursor=${stale}`)).detail).toMatch(/another key/);
    } finally {
      await elsewhere.close();
    }
  });

  it('malformed cursors are 422s, never 500s', async () => {
    const tooLong = 'A'.repeat(1025);
    const valid = await firstCursor(walker, {});
    for (const cursor of [
      'a',
      'abc',
      'AAAA',
      '!!!!',
      'e30',
      tooLong,
      `${valid}A`,
      valid.slice(0, -2),
      encodeURIComponent('ab/+='),
    ]) {
      const body = problem(await get(walker, `/tasks?cursor=${cursor}`));
      expect(body.detail).toMatch(/cursor/i);
    }
    // A MAC'd payload that is not a cursor cannot be made without the key: only the server's cursors get past the MAC.
  });

  it('a cursor with offset is a 422, even offset=0', async () => {
    const cursor = await firstCursor(walker, {});
    for (const target of [`/tasks?cursor=${cursor}&offset=0`, '/tasks?cursor=&offset=20', `/users?cursor=&offset=0`]) {
      const body = problem(await get(target.startsWith('/users') ? admin : walker, target));
      expect(body.errors?.[0]?.message).toMatch(/cursor and offset/);
    }
  });
});

describe('q across every task uses the trigram indexes', () => {
  it("an admin's search plans GIN index scans on title and description, no scan of tasks", async () => {
    const bulk = await registerAndLogin(ctx.api, 'bulk');
    await ctx.db.pool.query(
      `INSERT INTO tasks (user_id, title, description)
       SELECT $1, md5(k::text), CASE WHEN k % 2 = 0 THEN md5((k * 7)::text) END FROM generate_series(1, 20000) AS k`,
      [bulk.id],
    );
    await ctx.db.pool.query(`INSERT INTO labels (user_id, name) SELECT $1, md5((-k)::text) FROM generate_series(1, 5000) AS k`, [
      bulk.id,
    ]);
    await ctx.db.pool.query(
      `INSERT INTO task_labels (task_id, label_id)
       SELECT t.id, l.id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM tasks WHERE user_id = $1) t
       JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM labels WHERE user_id = $1) l ON l.n = t.n`,
      [bulk.id],
    );
    await ctx.db.pool.query('ANALYZE tasks; ANALYZE labels; ANALYZE task_labels');
    const filter = { q: 'needle', sort: 'created_at' as const, descending: true, limit: 20, offset: 0 };
    // At this size a scan is still cheaper, so scans are priced out: what is left to see is whether the
    // statement can reach every searched column through an index at all (an OR with the labels'
    // EXISTS could not). The plan at 1,000,000 tasks, where the planner picks the indexes itself: README.
    const client = await ctx.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      for (const keyset of [undefined, { after: undefined }]) {
        const query = listQuery(ctx.app.db, { ...filter, keyset }).toSQL();
        const params = fillPlaceholders(query.params, { pattern: likePattern('needle'), limit: 21, offset: 0 });
        const { rows } = await client.query(`EXPLAIN ${query.sql}`, params);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toContain('tasks_title_trgm_idx');
        expect(plan).toContain('tasks_description_trgm_idx');
        // Label names: the labels are few here, so which index the planner takes for them is its own call.
        expect(plan).not.toMatch(/Seq Scan on tasks/);
      }
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
