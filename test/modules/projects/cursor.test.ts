import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse } from '../../helpers/http.js';

let ctx: TestContext;
type User = Awaited<ReturnType<typeof registerAndLogin>>;
let walker: User;
let other: User;
let admin: User;

const SORTS = ['created_at', 'updated_at', 'name'].flatMap((key) => [key, `-${key}`]);
const PROJECTS = 150;

interface ProjectBody {
  id: number;
  name: string;
  role: string | null;
}

/**
 * PROJECTS projects with many ties on every sort key (a few names, in several cases; timestamps shared
 * by several projects and a microsecond apart from others), in an order unrelated to any sort. The
 * walker owns two in three, and is an editor of half of the rest; `other` owns the rest.
 */
async function seed(n: number): Promise<void> {
  await ctx.db.pool.query(
    `WITH made AS (
       INSERT INTO projects (name, description, created_at, updated_at)
       SELECT (ARRAY['Website', 'website', 'Alpha', 'beta', 'Zeta', 'ALPHA'])[1 + (k * 7) % 6],
         CASE WHEN k % 4 = 0 THEN NULL ELSE 'plan ' || (k % 5) END,
         timestamptz '2030-01-01' + ((k * 13) % 40) * interval '1.000001 minute',
         timestamptz '2030-02-01' + ((k * 17) % 25) * interval '0.000001 second'
       FROM generate_series(1, $1) AS k
       RETURNING id
     ), owners AS (
       INSERT INTO project_members (project_id, user_id, role)
       SELECT id, CASE WHEN id % 3 = 0 THEN $3::bigint ELSE $2::bigint END, 'owner' FROM made
     )
     INSERT INTO project_members (project_id, user_id, role)
     SELECT id, $2::bigint, 'editor' FROM made WHERE id % 3 = 0 AND id % 2 = 0`,
    [n, walker.id, other.id],
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
  return ctx.api.get<ProjectBody[]>(target, { token: user.token });
};

/** Every page by offset, joined. */
async function byOffset(user: User, query: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let offset = 0; ; offset += 100) {
    const res = await get(user, `/projects?${new URLSearchParams({ ...query, limit: '100', offset: String(offset) })}`);
    expect(res.status).toBe(200);
    out.push(...res.body.map((p) => p.id));
    if (res.body.length < 100) return out;
  }
}

/** Every page by cursor (following Link rel="next" from `cursor=`), joined. */
async function byCursor(user: User, query: Record<string, string>, limit: number): Promise<{ ids: number[]; totals: string[] }> {
  const ids: number[] = [];
  const totals: string[] = [];
  let next: URL | undefined = new URL(
    `/projects?${new URLSearchParams({ ...query, limit: String(limit), cursor: '' })}`,
    'http://x',
  );
  for (let page = 0; next; page++) {
    expect(page).toBeLessThan(1000);
    const res = await get(user, next);
    expect(res.status, res.text).toBe(200);
    expect(res.body.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.map((p) => p.id));
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
async function firstCursor(user: User, query: Record<string, string>, path = '/projects'): Promise<string> {
  const res = await get(user, `${path}?${new URLSearchParams({ limit: '5', ...query, cursor: '' })}`);
  expect(res.status, res.text).toBe(200);
  const cursor = links(res).next?.searchParams.get('cursor');
  expect(cursor).toBeTruthy();
  return cursor as string;
}

const count = async (query: string, params: unknown[] = []) =>
  ((await ctx.db.pool.query<{ n: number }>(query, params)).rows[0] as { n: number }).n;

beforeAll(async () => {
  ctx = await setupTestApp();
  walker = await registerAndLogin(ctx.api, 'pwalker');
  other = await registerAndLogin(ctx.api, 'pother');
  admin = await registerAndLogin(ctx.api, 'proot');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  await seed(PROJECTS);
});
afterAll(() => ctx?.close());

describe('GET /projects by cursor', () => {
  it('the seed has ties on every sort key, and timestamps a microsecond apart', async () => {
    expect(await count('SELECT count(DISTINCT lower(name))::int AS n FROM projects')).toBe(4);
    expect(await count('SELECT count(DISTINCT created_at)::int AS n FROM projects')).toBe(40);
    expect(await count('SELECT count(DISTINCT updated_at)::int AS n FROM projects')).toBe(25);
    // Two updated_at values one microsecond apart: a keyset that lost precision would skip or repeat here.
    expect(
      await count(
        "SELECT count(*)::int AS n FROM projects a JOIN projects b ON b.updated_at = a.updated_at + interval '1 microsecond'",
      ),
    ).toBeGreaterThan(0);
  });

  it.each(SORTS)("sort=%s: a member's pages by cursor join into exactly the offset order, each project once", async (sort) => {
    const expected = await byOffset(walker, { sort });
    const visible = await count('SELECT count(*)::int AS n FROM project_members WHERE user_id = $1', [walker.id]);
    expect(visible).toBeGreaterThan(PROJECTS / 2);
    expect(visible).toBeLessThan(PROJECTS);
    expect(expected).toHaveLength(visible);
    const walked = await byCursor(walker, { sort }, 13);
    expect(walked.ids).toEqual(expected);
    expect(new Set(walked.totals)).toEqual(new Set([String(visible)]));
  });

  it.each(SORTS)("sort=%s: an admin's pages by cursor are every project, in the offset order", async (sort) => {
    const expected = await byOffset(admin, { sort });
    const all = await count('SELECT count(*)::int AS n FROM projects');
    expect(expected).toHaveLength(all);
    const walked = await byCursor(admin, { sort }, 29);
    expect(walked.ids).toEqual(expected);
    expect(new Set(walked.ids).size).toBe(all);
    expect(new Set(walked.totals)).toEqual(new Set([String(all)]));
  });

  it('the name order is case-insensitive on every page (lower(name) in the keyset too)', async () => {
    const res = await get(walker, '/projects?sort=name&limit=100&cursor=');
    const names = res.body.map((p) => p.name.toLowerCase());
    expect(names).toEqual([...names].sort());
    expect(new Set(res.body.map((p) => p.name))).toContain('ALPHA');
    expect(new Set(res.body.map((p) => p.name))).toContain('Alpha');
  });

  it.each<Record<string, string>>([
    { q: 'plan 3', sort: 'name' },
    { role: 'editor', sort: '-created_at' },
    { role: 'owner,editor', q: 'WEB', sort: 'updated_at' },
  ])('filters are kept (%o): the filtered offset order, with its own total', async (query) => {
    const expected = await byOffset(walker, query);
    expect(expected.length).toBeGreaterThan(5);
    const walked = await byCursor(walker, query, 4);
    expect(walked.ids).toEqual(expected);
    expect(new Set(walked.totals)).toEqual(new Set([String(expected.length)]));
  });

  it('the last page has no next link, also when the limit divides the total (no empty page after it)', async () => {
    // The walker is an editor of one project in six: 25.
    const editorOf = await count("SELECT count(*)::int AS n FROM project_members WHERE user_id = $1 AND role = 'editor'", [
      walker.id,
    ]);
    expect(editorOf).toBe(25);
    for (const limit of [25, 5]) {
      const exact = await byCursor(walker, { role: 'editor', sort: 'name' }, limit);
      expect(exact.ids).toHaveLength(25);
      expect(exact.totals).toHaveLength(25 / limit);
    }
  });

  it("a cursor past every remaining project gives an empty page with the filters' exact total", async () => {
    const lone = await registerAndLogin(ctx.api, 'plone');
    for (let i = 0; i < 7; i++) {
      expect((await ctx.api.post('/projects', { name: `lone ${i}` }, { token: lone.token })).status).toBe(201);
    }
    const first = await get(lone, '/projects?sort=name&limit=3&cursor=');
    const next = links(first).next?.searchParams.get('cursor');
    expect(next).toBeTruthy();
    // Everything after the first page goes: the cursor now points past the last project.
    await ctx.db.pool.query(
      'DELETE FROM projects WHERE id IN (SELECT project_id FROM project_members WHERE user_id = $1) AND NOT (id = ANY($2::bigint[]))',
      [lone.id, first.body.map((p) => p.id)],
    );
    const past = await get(lone, `/projects?sort=name&limit=3&cursor=${next}`);
    expect(past.status).toBe(200);
    expect(past.body).toEqual([]);
    expect(past.headers.get('x-total-count')).toBe('3');
    expect(links(past).next).toBeUndefined();
  });
});

describe('refused cursors on GET /projects', () => {
  it('an altered cursor is a 422 that says so', async () => {
    const cursor = await firstCursor(walker, { sort: 'name' });
    const bytes = Buffer.from(cursor, 'base64url');
    for (const at of [0, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const altered = Buffer.from(bytes);
      altered[at] = (altered[at] ?? 0) ^ 1;
      const body = problem(await get(walker, `/projects?sort=name&cursor=${altered.toString('base64url')}`));
      expect(body.detail).toMatch(/cursor/i);
      expect(body.errors?.[0]?.field).toBe('cursor');
    }
    const payload = bytes.subarray(0, bytes.length - 16).toString('utf8');
    const forged = Buffer.concat([Buffer.from(payload.replace(/"i":\d+/, '"i":1')), bytes.subarray(bytes.length - 16)]);
    expect(problem(await get(walker, `/projects?sort=name&cursor=${forged.toString('base64url')}`)).detail).toMatch(/altered/);
    expect(problem(await get(walker, '/projects?cursor=AAAA')).detail).toMatch(/malformed/);
  });

  it('a cursor for another sort or direction, or for other filters (q, role), is a 422', async () => {
    const cursor = await firstCursor(walker, { sort: 'name', role: 'owner' });
    for (const query of ['sort=-name&role=owner', 'sort=created_at&role=owner', 'role=owner']) {
      expect(problem(await get(walker, `/projects?${query}&cursor=${cursor}`)).detail).toMatch(/another sort/);
    }
    for (const query of ['sort=name', 'sort=name&role=editor', 'sort=name&role=owner&q=web']) {
      expect(problem(await get(walker, `/projects?${query}&cursor=${cursor}`)).detail).toMatch(/other filters/);
    }
    // The same sort and filters, parameters in another order: the same list.
    expect((await get(walker, `/projects?role=owner&cursor=${cursor}&sort=name`)).status).toBe(200);
  });

  it("another list's cursor (tasks, users) is a 422 here, and a projects cursor is one there", async () => {
    expect((await ctx.api.post('/tasks', { title: 'one' }, { token: admin.token })).status).toBe(201);
    expect((await ctx.api.post('/tasks', { title: 'two' }, { token: admin.token })).status).toBe(201);
    const taskCursor = await firstCursor(admin, { sort: '-created_at', limit: '1' }, '/tasks');
    const userCursor = await firstCursor(admin, { limit: '1' }, '/users');
    for (const cursor of [taskCursor, userCursor]) {
      expect(problem(await get(admin, `/projects?sort=-created_at&cursor=${cursor}`)).detail).toMatch(/another key/);
    }
    const projectCursor = await firstCursor(admin, { sort: '-created_at' });
    expect(problem(await get(admin, `/tasks?sort=-created_at&cursor=${projectCursor}`)).detail).toMatch(/another key/);
    expect(problem(await get(admin, `/users?cursor=${projectCursor}`)).detail).toMatch(/another key/);
  });

  it('a cursor with offset is a 422, even offset=0 and even the first page', async () => {
    const cursor = await firstCursor(walker, {});
    for (const target of [`/projects?cursor=${cursor}&offset=0`, '/projects?cursor=&offset=20']) {
      expect(problem(await get(walker, target)).errors?.[0]?.message).toMatch(/cursor and offset/);
    }
  });
});
