import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { registerAndLogin, setupTestApp, type TestContext } from '../helpers/app.js';
import type { HttpResponse, TaskBody } from '../helpers/http.js';
import { sharedRedis } from '../helpers/redis.js';

type User = Awaited<ReturnType<typeof registerAndLogin>>;
type Task = TaskBody;
type Method = 'PUT' | 'PATCH';

const MISSING_ID = 999_999_999;
const STRONG_TAG = /^"[^"]+"$/;

// One Redis for the file, started the first time the Redis configuration asks for it.
let redis: Promise<Awaited<ReturnType<typeof sharedRedis>>> | undefined;
const redisUrl = async () => {
  redis ??= sharedRedis();
  return (await redis).url;
};
afterAll(async () => {
  await (await redis)?.stop();
});

const CONFIGURATIONS: Array<[string, () => Promise<Partial<AppConfig>>]> = [
  ['memory', async () => ({ redisUrl: undefined })],
  ['Redis', async () => ({ redisUrl: await redisUrl(), redisKeyPrefix: `http-cache-test-${randomBytes(6).toString('hex')}:` })],
];

function expectProblem(res: HttpResponse, status: number) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

/** A 200 with a strong ETag; returns the tag. */
function etagOf(res: HttpResponse): string {
  expect(res.status, res.text).toBe(200);
  const etag = res.headers.get('etag');
  expect(etag).toMatch(STRONG_TAG);
  return etag as string;
}

/** 304 Not Modified: no body, and the tag it matched. */
function expectNotModified(res: HttpResponse, etag: string) {
  expect(res.status, res.text).toBe(304);
  expect(res.text).toBe('');
  expect(res.headers.get('etag')).toBe(etag);
}

const weak = (etag: string) => `W/${etag}`;

describe.each(CONFIGURATIONS)('HTTP caching, conditional requests and idempotency (%s)', (name, configure) => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await setupTestApp(await configure());
  });
  afterAll(() => ctx?.close());

  const asUser = (user: User, headers: Record<string, string> = {}) => ({ token: user.token, headers });

  async function createTask(user: User, body: Record<string, unknown>): Promise<Task> {
    const res = await ctx.api.post<Task>('/tasks', body, { token: user.token });
    expect(res.status, res.text).toBe(201);
    return res.body;
  }

  const getTask = (user: User, id: number, headers: Record<string, string> = {}) =>
    ctx.api.get<Task>(`/tasks/${id}`, asUser(user, headers));

  /** The task's current ETag, read with GET. */
  const currentTag = async (user: User, id: number) => etagOf(await getTask(user, id));

  async function makeAdmin(prefix = 'admin'): Promise<User> {
    const admin = await registerAndLogin(ctx.api, prefix);
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    return admin;
  }

  async function tasksOf(userId: number): Promise<Array<{ id: number; title: string }>> {
    const { rows } = await ctx.db.pool.query<{ id: string; title: string }>(
      'SELECT id, title FROM tasks WHERE user_id = $1 ORDER BY id',
      [userId],
    );
    return rows.map((r) => ({ id: Number(r.id), title: r.title }));
  }

  it(`runs in the ${name} configuration`, () => {
    if (name === 'Redis') expect(ctx.app.redis?.status).toBe('ready');
    else expect(ctx.app.redis).toBeUndefined();
  });

  describe('ETag and If-None-Match', () => {
    let user: User;
    let admin: User;
    beforeAll(async () => {
      [user, admin] = await Promise.all([registerAndLogin(ctx.api, 'etag'), makeAdmin()]);
    });

    it('GET /tasks/:id: ETag; sent back → 304 with no body; after an update the old tag → 200 with a new ETag', async () => {
      const task = await createTask(user, { title: 'Cache me' });
      const first = await getTask(user, task.id);
      const etag = etagOf(first);
      expect(first.body.title).toBe('Cache me');

      expectNotModified(await getTask(user, task.id, { 'if-none-match': etag }), etag);
      // A tag that is not the current one does not match.
      const other = await getTask(user, task.id, { 'if-none-match': '"not-the-tag"' });
      expect(other.status).toBe(200);
      expect(other.body.title).toBe('Cache me');

      expect((await ctx.api.patch(`/tasks/${task.id}`, { title: 'Changed' }, asUser(user))).status).toBe(200);
      const after = await getTask(user, task.id, { 'if-none-match': etag });
      const newTag = etagOf(after);
      expect(newTag).not.toBe(etag);
      expect(after.body.title).toBe('Changed');
      expectNotModified(await getTask(user, task.id, { 'if-none-match': newTag }), newTag);
    });

    it('GET /tasks/:id: the weak form W/"…" of the current tag, or one of a list of tags, → 304', async () => {
      const task = await createTask(user, { title: 'Weakly compared' });
      const etag = await currentTag(user, task.id);
      expectNotModified(await getTask(user, task.id, { 'if-none-match': weak(etag) }), etag);
      expectNotModified(await getTask(user, task.id, { 'if-none-match': `"stale", ${weak(etag)}` }), etag);
      expectNotModified(await getTask(user, task.id, { 'if-none-match': '*' }), etag);
    });

    it('GET /tasks: ETag; sent back → 304; after a create → 200 with a new ETag; the weak form → 304', async () => {
      const owner = await registerAndLogin(ctx.api, 'lister');
      await createTask(owner, { title: 'first' });
      const first = await ctx.api.get<Task[]>('/tasks', asUser(owner));
      const etag = etagOf(first);
      expect(first.body.map((t) => t.title)).toEqual(['first']);

      expectNotModified(await ctx.api.get('/tasks', asUser(owner, { 'if-none-match': etag })), etag);
      expectNotModified(await ctx.api.get('/tasks', asUser(owner, { 'if-none-match': weak(etag) })), etag);

      await createTask(owner, { title: 'second' });
      const after = await ctx.api.get<Task[]>('/tasks', asUser(owner, { 'if-none-match': etag }));
      const newTag = etagOf(after);
      expect(newTag).not.toBe(etag);
      expect(after.body.map((t) => t.title).sort()).toEqual(['first', 'second']);
      expectNotModified(await ctx.api.get('/tasks', asUser(owner, { 'if-none-match': newTag })), newTag);
      expectNotModified(await ctx.api.get('/tasks', asUser(owner, { 'if-none-match': weak(newTag) })), newTag);
    });

    it('GET /tasks: a filter that changes the result changes the ETag', async () => {
      const owner = await registerAndLogin(ctx.api, 'filter');
      await createTask(owner, { title: 'open', status: 'pending' });
      await createTask(owner, { title: 'done', status: 'completed' });

      const all = await ctx.api.get<Task[]>('/tasks', asUser(owner));
      const allTag = etagOf(all);
      expect(all.body).toHaveLength(2);

      const completed = await ctx.api.get<Task[]>('/tasks?status=completed', asUser(owner, { 'if-none-match': allTag }));
      const completedTag = etagOf(completed);
      expect(completed.body.map((t) => t.title)).toEqual(['done']);
      expect(completedTag).not.toBe(allTag);

      const pending = await ctx.api.get<Task[]>('/tasks?status=pending', asUser(owner, { 'if-none-match': completedTag }));
      const pendingTag = etagOf(pending);
      expect(pending.body.map((t) => t.title)).toEqual(['open']);
      expect(new Set([allTag, completedTag, pendingTag]).size).toBe(3);

      // Each filter's own tag still matches its own result.
      expectNotModified(
        await ctx.api.get('/tasks?status=completed', asUser(owner, { 'if-none-match': completedTag })),
        completedTag,
      );
    });

    it('GET /tasks/admin/stats: ETag; sent back → 304; after a create → 200 with a new ETag; the weak form → 304', async () => {
      const first = await ctx.api.get('/tasks/admin/stats', asUser(admin));
      const etag = etagOf(first);
      expectNotModified(await ctx.api.get('/tasks/admin/stats', asUser(admin, { 'if-none-match': etag })), etag);
      expectNotModified(await ctx.api.get('/tasks/admin/stats', asUser(admin, { 'if-none-match': weak(etag) })), etag);

      await createTask(user, { title: 'counted' });
      const after = await ctx.api.get('/tasks/admin/stats', asUser(admin, { 'if-none-match': etag }));
      const newTag = etagOf(after);
      expect(newTag).not.toBe(etag);
      expect(after.body.total_tasks).toBe(first.body.total_tasks + 1);
      expectNotModified(await ctx.api.get('/tasks/admin/stats', asUser(admin, { 'if-none-match': newTag })), newTag);
    });
  });

  describe('Cache-Control', () => {
    it('authenticated GET responses (200 and 304) are `private, no-cache`', async () => {
      const admin = await makeAdmin('cc-admin');
      const task = await createTask(admin, { title: 'private' });
      for (const path of [`/tasks/${task.id}`, '/tasks', '/tasks/admin/stats', '/users/me']) {
        const res = await ctx.api.get(path, asUser(admin));
        expect(res.status, `${path}: ${res.text}`).toBe(200);
        expect(res.headers.get('cache-control'), path).toBe('private, no-cache');
        const revalidated = await ctx.api.get(path, asUser(admin, { 'if-none-match': res.headers.get('etag') as string }));
        expect(revalidated.status, path).toBe(304);
        expect(revalidated.headers.get('cache-control'), path).toBe('private, no-cache');
      }
    });

    it('POST /auth/login, /auth/refresh and /auth/logout are `no-store`', async () => {
      const user = await registerAndLogin(ctx.api, 'nostore');
      const login = await ctx.api.post('/auth/login', { username: user.username, password: user.password });
      expect(login.status).toBe(200);
      expect(login.headers.get('cache-control')).toBe('no-store');

      const refresh = await ctx.api.post('/auth/refresh', { refresh_token: login.body.refresh_token });
      expect(refresh.status).toBe(200);
      expect(refresh.headers.get('cache-control')).toBe('no-store');

      const logout = await ctx.api.post('/auth/logout', undefined, { token: refresh.body.access_token });
      expect(logout.status).toBe(204);
      expect(logout.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('If-Match', () => {
    let user: User;
    let other: User;
    beforeAll(async () => {
      [user, other] = await Promise.all([registerAndLogin(ctx.api, 'ifmatch'), registerAndLogin(ctx.api, 'intruder')]);
    });

    const send = (method: Method, id: number, body: object, owner: User, ifMatch?: string) =>
      ctx.api.request<Task>(method, `/tasks/${id}`, body, asUser(owner, ifMatch === undefined ? {} : { 'if-match': ifMatch }));

    describe.each([['PUT'], ['PATCH']] as Array<[Method]>)('%s /tasks/:id', (method) => {
      it('the current ETag (from GET, then from each response) → 200 with a new ETag', async () => {
        const task = await createTask(user, { title: 'v1' });
        const etag = await currentTag(user, task.id);

        const second = await send(method, task.id, { title: 'v2' }, user, etag);
        const secondTag = etagOf(second);
        expect(second.body.title).toBe('v2');
        expect(secondTag).not.toBe(etag);
        expect(await currentTag(user, task.id)).toBe(secondTag);

        const third = await send(method, task.id, { title: 'v3', priority: 'high' }, user, secondTag);
        const thirdTag = etagOf(third);
        expect(thirdTag).not.toBe(secondTag);
        expect((await getTask(user, task.id)).body).toMatchObject({ title: 'v3', priority: 'high' });
        expect(await currentTag(user, task.id)).toBe(thirdTag);
      });

      it('a stale ETag → 412 problem+json, and nothing changes', async () => {
        const task = await createTask(user, { title: 'original', priority: 'low' });
        const stale = await currentTag(user, task.id);
        const updated = await send(method, task.id, { title: 'newer' }, user, stale);
        expect(updated.status).toBe(200);

        const res = await send(method, task.id, { title: 'lost update', priority: 'high' }, user, stale);
        expectProblem(res, 412);
        const now = await getTask(user, task.id);
        expect(now.body).toEqual(updated.body);
        expect(now.headers.get('etag')).toBe(updated.headers.get('etag'));
      });

      it('If-Match: * → 200 when the task exists, 404 when it does not', async () => {
        const task = await createTask(user, { title: 'any' });
        const res = await send(method, task.id, { title: 'any version' }, user, '*');
        expect(res.status, res.text).toBe(200);
        expect(res.body.title).toBe('any version');
        expectProblem(await send(method, MISSING_ID, { title: 'nothing' }, user, '*'), 404);
      });

      it('a weak tag W/"…" never matches (strong comparison) → 412, nothing changes', async () => {
        const task = await createTask(user, { title: 'strong only' });
        const before = await getTask(user, task.id);
        const res = await send(method, task.id, { title: 'weakly matched' }, user, weak(etagOf(before)));
        expectProblem(res, 412);
        const after = await getTask(user, task.id);
        expect(after.body).toEqual(before.body);
        expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
      });

      it("another task's tag → 412, nothing changes", async () => {
        const task = await createTask(user, { title: 'target' });
        const decoy = await createTask(user, { title: 'decoy' });
        const before = await getTask(user, task.id);
        const res = await send(method, task.id, { title: 'hijacked' }, user, await currentTag(user, decoy.id));
        expectProblem(res, 412);
        expect((await getTask(user, task.id)).body).toEqual(before.body);
        expect((await getTask(user, decoy.id)).body.title).toBe('decoy');
      });

      it("another user's task with its correct tag → 404 (not 412), nothing changes", async () => {
        const task = await createTask(user, { title: 'mine' });
        const before = await getTask(user, task.id);
        const res = await send(method, task.id, { title: 'theirs now' }, other, etagOf(before));
        expectProblem(res, 404);
        const after = await getTask(user, task.id);
        expect(after.body).toEqual(before.body);
        expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
      });

      it('without If-Match the update is unconditional, even after another change', async () => {
        const task = await createTask(user, { title: 'unconditional' });
        const stale = await currentTag(user, task.id);
        expect((await send(method, task.id, { title: 'someone else' }, user, stale)).status).toBe(200);
        const res = await send(method, task.id, { title: 'last write wins' }, user);
        expect(res.status, res.text).toBe(200);
        expect((await getTask(user, task.id)).body.title).toBe('last write wins');
      });
    });

    it('two clients PATCHing at once with the same current tag: exactly one 200 and one 412 (5 rounds)', async () => {
      for (let round = 0; round < 5; round++) {
        const task = await createTask(user, { title: `race ${round}` });
        const etag = await currentTag(user, task.id);
        const results = await Promise.all(
          ['a', 'b'].map((client) => send('PATCH', task.id, { title: `won by ${client}` }, user, etag)),
        );
        expect(results.map((r) => r.status).sort(), `round ${round}`).toEqual([200, 412]);
        const winner = results.find((r) => r.status === 200) as HttpResponse<Task>;
        expectProblem(results.find((r) => r.status === 412) as HttpResponse, 412);
        const now = await getTask(user, task.id);
        expect(now.body.title).toBe(winner.body.title);
        expect(now.headers.get('etag')).toBe(winner.headers.get('etag'));
      }
    });

    describe('DELETE /tasks/:id', () => {
      const remove = (id: number, owner: User, ifMatch?: string) =>
        ctx.api.delete(`/tasks/${id}`, asUser(owner, ifMatch === undefined ? {} : { 'if-match': ifMatch }));

      it('the current ETag → 204 and the task is gone', async () => {
        const task = await createTask(user, { title: 'delete me' });
        const res = await remove(task.id, user, await currentTag(user, task.id));
        expect(res.status, res.text).toBe(204);
        expect((await getTask(user, task.id)).status).toBe(404);
      });

      it('the ETag from a PUT or PATCH response → 204', async () => {
        const task = await createTask(user, { title: 'edit then delete' });
        const patched = await send('PATCH', task.id, { status: 'completed' }, user, await currentTag(user, task.id));
        const res = await remove(task.id, user, etagOf(patched));
        expect(res.status, res.text).toBe(204);
        expect((await getTask(user, task.id)).status).toBe(404);
      });

      it('a stale ETag → 412 problem+json, and the task still exists', async () => {
        const task = await createTask(user, { title: 'survivor' });
        const stale = await currentTag(user, task.id);
        const updated = await send('PATCH', task.id, { title: 'survivor v2' }, user, stale);
        expect(updated.status).toBe(200);
        expectProblem(await remove(task.id, user, stale), 412);
        const now = await getTask(user, task.id);
        expect(now.status).toBe(200);
        expect(now.body).toEqual(updated.body);
      });

      it('a weak tag → 412, and the task still exists', async () => {
        const task = await createTask(user, { title: 'weak delete' });
        expectProblem(await remove(task.id, user, weak(await currentTag(user, task.id))), 412);
        expect((await getTask(user, task.id)).status).toBe(200);
      });

      it("another task's tag → 412, and both tasks still exist", async () => {
        const task = await createTask(user, { title: 'keep' });
        const decoy = await createTask(user, { title: 'decoy' });
        expectProblem(await remove(task.id, user, await currentTag(user, decoy.id)), 412);
        expect((await getTask(user, task.id)).status).toBe(200);
        expect((await getTask(user, decoy.id)).status).toBe(200);
      });

      it("another user's task with its correct tag → 404 (not 412), and the task still exists", async () => {
        const task = await createTask(user, { title: 'not yours' });
        expectProblem(await remove(task.id, other, await currentTag(user, task.id)), 404);
        expect((await getTask(user, task.id)).status).toBe(200);
      });

      it('If-Match: * → 204 when the task exists, 404 when it does not', async () => {
        const task = await createTask(user, { title: 'wildcard' });
        expect((await remove(task.id, user, '*')).status).toBe(204);
        expect((await getTask(user, task.id)).status).toBe(404);
        expectProblem(await remove(task.id, user, '*'), 404);
        expectProblem(await remove(MISSING_ID, user, '*'), 404);
      });
    });
  });

  describe('Idempotency-Key on POST /tasks', () => {
    const post = (user: User, body: object, key?: string) =>
      ctx.api.post<Task>('/tasks', body, asUser(user, key === undefined ? {} : { 'idempotency-key': key }));
    const newKey = () => `key-${randomBytes(8).toString('hex')}`;

    it('a retry with the same key and body (keys in another order) replays the 201: same task, one row', async () => {
      const user = await registerAndLogin(ctx.api, 'idem');
      const key = newKey();
      const first = await post(user, { title: 'Pay rent', description: 'by the 1st', priority: 'high' }, key);
      expect(first.status, first.text).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();

      const retry = await post(user, { priority: 'high', description: 'by the 1st', title: 'Pay rent' }, key);
      expect(retry.status, retry.text).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.body.id).toBe(first.body.id);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));

      const again = await post(user, { title: 'Pay rent', description: 'by the 1st', priority: 'high' }, key);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);

      expect(await tasksOf(user.id)).toEqual([{ id: first.body.id, title: 'Pay rent' }]);
    });

    it('the same key with a different body → 422 problem+json, and no new task', async () => {
      const user = await registerAndLogin(ctx.api, 'idem');
      const key = newKey();
      const first = await post(user, { title: 'Original' }, key);
      expect(first.status).toBe(201);

      const mismatch = await post(user, { title: 'Something else' }, key);
      expectProblem(mismatch, 422);
      // Like every 422, it names the field: here the header.
      expect((mismatch.body as unknown as { errors: unknown }).errors).toEqual([
        { location: 'headers', field: 'idempotency-key', message: expect.stringMatching(/different request body/) },
      ]);
      expectProblem(await post(user, { title: 'Original', priority: 'low' }, key), 422);
      expect(await tasksOf(user.id)).toEqual([{ id: first.body.id, title: 'Original' }]);

      // The original request is still replayed.
      const retry = await post(user, { title: 'Original' }, key);
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.body.id).toBe(first.body.id);
    });

    it('a retry that differs only in white space around the title is the same request: replayed', async () => {
      const user = await registerAndLogin(ctx.api, 'idem');
      const key = newKey();
      const first = await post(user, { title: 'Trimmed' }, key);
      expect(first.status).toBe(201);
      const retry = await post(user, { title: '  Trimmed\u0085' }, key);
      expect(retry.status, retry.text).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.body).toEqual(first.body);
    });

    it("another user with the same key gets a new task of their own, never the first user's response", async () => {
      const [alice, bob] = await Promise.all([registerAndLogin(ctx.api, 'alice'), registerAndLogin(ctx.api, 'bob')]);
      const key = newKey();
      const body = { title: 'Shared key' };
      const first = await post(alice, body, key);
      expect(first.status).toBe(201);

      const theirs = await post(bob, body, key);
      expect(theirs.status, theirs.text).toBe(201);
      expect(theirs.headers.get('idempotent-replayed')).toBeNull();
      expect(theirs.body.id).not.toBe(first.body.id);
      expect(theirs.body.user_id).toBe(bob.id);
      expect(await tasksOf(bob.id)).toEqual([{ id: theirs.body.id, title: 'Shared key' }]);
      expect(await tasksOf(alice.id)).toEqual([{ id: first.body.id, title: 'Shared key' }]);

      // Each user's retry replays their own task.
      expect((await post(alice, body, key)).body.id).toBe(first.body.id);
      expect((await post(bob, body, key)).body.id).toBe(theirs.body.id);
    });

    it('while the same (user, key) is in progress → 409 problem+json; once released → 201', async () => {
      const user = await registerAndLogin(ctx.api, 'idem');
      const key = newKey();
      const lockName = `${user.id}:${key}`;
      const client = new pg.Client({ connectionString: ctx.db.url });
      await client.connect();
      try {
        await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockName]);
        expectProblem(await post(user, { title: 'In flight' }, key), 409);
        expect(await tasksOf(user.id)).toEqual([]);

        const { rows } = await client.query<{ released: boolean }>(
          'SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS released',
          [lockName],
        );
        expect(rows[0]?.released).toBe(true);
        const res = await post(user, { title: 'In flight' }, key);
        expect(res.status, res.text).toBe(201);
        expect(res.headers.get('idempotent-replayed')).toBeNull();
        expect(await tasksOf(user.id)).toEqual([{ id: res.body.id, title: 'In flight' }]);
      } finally {
        await client.end();
      }
    });

    it.each([
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['containing a space', 'my key'],
      ['containing a non-ASCII character', 'clé'],
    ])('an invalid key (%s) → 422, and no task', async (_label, key) => {
      const user = await registerAndLogin(ctx.api, 'badkey');
      const res: HttpResponse = await post(user, { title: 'Bad key' }, key);
      expectProblem(res, 422);
      expect(res.body.errors).toContainEqual(expect.objectContaining({ location: 'headers', field: 'idempotency-key' }));
      expect(await tasksOf(user.id)).toEqual([]);
    });

    it('the longest key (255 characters) and the edges of visible ASCII are accepted', async () => {
      const user = await registerAndLogin(ctx.api, 'goodkey');
      for (const key of ['k'.repeat(255), '!', '~']) {
        const res = await post(user, { title: `key of ${key.length}` }, key);
        expect(res.status, res.text).toBe(201);
        const retry = await post(user, { title: `key of ${key.length}` }, key);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        expect(retry.body.id).toBe(res.body.id);
      }
      expect(await tasksOf(user.id)).toHaveLength(3);
    });

    it('a key older than 24 hours is not replayed: the same key and body create a new task', async () => {
      const user = await registerAndLogin(ctx.api, 'idem');
      const key = newKey();
      const first = await post(user, { title: 'Yesterday' }, key);
      expect(first.status).toBe(201);
      const aged = await ctx.db.pool.query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1 AND key = $2",
        [user.id, key],
      );
      expect(aged.rowCount).toBe(1);

      const second = await post(user, { title: 'Yesterday' }, key);
      expect(second.status, second.text).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBeNull();
      expect(second.body.id).not.toBe(first.body.id);
      expect((await tasksOf(user.id)).map((t) => t.id)).toEqual([first.body.id, second.body.id]);

      // The key now replays the new task.
      const retry = await post(user, { title: 'Yesterday' }, key);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.body.id).toBe(second.body.id);
    });

    it('without the header, two identical POSTs create two tasks', async () => {
      const user = await registerAndLogin(ctx.api, 'noidem');
      const first = await post(user, { title: 'Twice' });
      const second = await post(user, { title: 'Twice' });
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.headers.get('idempotent-replayed')).toBeNull();
      expect(second.body.id).not.toBe(first.body.id);
      expect(await tasksOf(user.id)).toHaveLength(2);
    });
  });

  describe('statistics cache', () => {
    it('with STATS_CACHE_TTL_MS=0 a change shows at once', async () => {
      const admin = await makeAdmin('ttl0');
      const before = await ctx.api.get('/tasks/admin/stats', asUser(admin));
      expect(before.status).toBe(200);
      await createTask(admin, { title: 'seen at once' });
      const after = await ctx.api.get('/tasks/admin/stats', asUser(admin));
      expect(after.body.total_tasks).toBe(before.body.total_tasks + 1);
    });

    describe('with STATS_CACHE_TTL_MS=1000', () => {
      let cached: TestContext;
      beforeAll(async () => {
        cached = await setupTestApp({ ...(await configure()), statsCacheTtlMs: 1000 });
      });
      afterAll(() => cached?.close());

      it('a change is not seen while cached, and is seen after the TTL', async () => {
        const admin = await registerAndLogin(cached.api, 'ttl');
        await cached.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
        const stats = async () => {
          const res = await cached.api.get('/tasks/admin/stats', { token: admin.token });
          expect(res.status, res.text).toBe(200);
          return res;
        };

        const started = Date.now();
        const before = await stats();
        const created = await cached.api.post('/tasks', { title: 'not yet counted' }, { token: admin.token });
        expect(created.status).toBe(201);
        const soon = await stats();
        // Guard: the cached read happened well within the TTL (otherwise the test proves nothing).
        expect(Date.now() - started).toBeLessThan(900);
        expect(soon.body).toEqual(before.body);
        expect(soon.headers.get('etag')).toBe(before.headers.get('etag'));

        await sleep(1200);
        const later = await stats();
        expect(later.body.total_tasks).toBe(before.body.total_tasks + 1);
        expect(later.headers.get('etag')).not.toBe(before.headers.get('etag'));
      });
    });
  });
});

describe('If-Match with a version no task can have', () => {
  it('is a 412, not a 500 or a 422', async () => {
    const ctx = await setupTestApp();
    try {
      const user = await registerAndLogin(ctx.api);
      const task = (await ctx.api.post('/tasks', { title: 't' }, { token: user.token })).body;
      for (const tag of [`"${task.id}.99999999999999999999999"`, `"${task.id}.3000000000"`, `"${task.id}.2147483648"`]) {
        const res = await ctx.api.patch(`/tasks/${task.id}`, { title: 'x' }, { token: user.token, headers: { 'if-match': tag } });
        expect(res.status, tag).toBe(412);
      }
    } finally {
      await ctx.close();
    }
  });
});
