import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';
import { AMQP_URL, uniqueExchange } from '../../helpers/rabbitmq.js';

// Events on: the writes record their events in the outbox, where these tests read them.
let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp({
    amqpUrl: AMQP_URL,
    events: { exchange: uniqueExchange('labels'), batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
  });
});
afterAll(() => ctx.close());

type User = Awaited<ReturnType<typeof registerAndLogin>>;

async function create(
  user: User,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<HttpResponse<TaskBody>> {
  return ctx.api.post<TaskBody>('/tasks', { title: 'a task', ...body }, { token: user.token, ...(headers ? { headers } : {}) });
}

async function created(user: User, labels: string[]): Promise<TaskBody> {
  const res = await create(user, { labels });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** The events written for a task, oldest first: their type and data. */
async function eventsOf(taskId: number): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  const { rows } = await ctx.db.pool.query<{ type: string; payload: { data: Record<string, unknown> } }>(
    'SELECT type, payload FROM event_outbox WHERE aggregate_key = $1 ORDER BY id',
    [`task:${taskId}`],
  );
  return rows.map((r) => ({ type: r.type, data: r.payload.data }));
}

async function labelRows(userId: number): Promise<string[]> {
  const { rows } = await ctx.db.pool.query<{ name: string }>('SELECT name FROM labels WHERE user_id = $1 ORDER BY name', [
    userId,
  ]);
  return rows.map((r) => r.name);
}

function expect422(res: HttpResponse, field: string) {
  expect(res.status, res.text).toBe(422);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.errors.map((e: { field: string }) => e.field).some((f: string) => f.startsWith(field))).toBe(true);
}

describe('labels on a task: the limits', () => {
  let user: User;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'limits');
  });

  const tooMany = Array.from({ length: 21 }, (_, i) => `l${i}`);
  const refused: Array<[string, unknown]> = [
    ['21 labels', tooMany],
    ['a label of 51 characters', ['x'.repeat(51)]],
    ['an empty label', ['']],
    ['a label empty once trimmed', ['   \u3000 ']],
    ['a tab inside', ['a\tb']],
    ['a line feed around', ['home\n']],
    ['a C1 control character', ['a\u0085b']],
    ['DEL', ['a\u007Fb']],
    ['NUL', ['a\u0000b']],
    ['a lone surrogate', ['a\ud800']],
    ['a number', [7]],
    ['a string instead of a list', 'home'],
    ['null', null],
  ];

  it.each(refused)('%s → 422 on POST, PUT and PATCH, and nothing is stored', async (_, labels) => {
    const task = await created(user, ['kept']);
    expect422(await create(user, { title: 'refused-task', labels }), 'labels');
    for (const method of ['PUT', 'PATCH']) {
      expect422(await ctx.api.request(method, `/tasks/${task.id}`, { labels }, { token: user.token }), 'labels');
    }
    const { rows } = await ctx.db.pool.query("SELECT 1 FROM tasks WHERE title = 'refused-task'");
    expect(rows).toEqual([]);
    expect((await ctx.api.get(`/tasks/${task.id}`, { token: user.token })).body.labels).toEqual(['kept']);
    expect(await labelRows(user.id)).toEqual(['kept']);
  });

  it('at the limits: 20 labels of 50 characters, surrounding white space trimmed', async () => {
    const labels = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'y'.repeat(48)}`);
    const task = await created(
      user,
      labels.map((l) => `  ${l}\u3000`),
    );
    expect(task.labels).toEqual(labels);
    const { rows } = await ctx.db.pool.query<{ name: string }>(
      'SELECT l.name FROM task_labels tl JOIN labels l ON l.id = tl.label_id WHERE tl.task_id = $1 ORDER BY l.name',
      [task.id],
    );
    expect(rows.map((r) => r.name)).toEqual(labels);
  });
});

describe('labels on a task: identity, order, replacement', () => {
  it('old clients see labels: [] on every representation; the default is []', async () => {
    const user = await registerAndLogin(ctx.api, 'old');
    const res = await create(user, {});
    expect(res.body.labels).toEqual([]);
    expect((await ctx.api.get(`/tasks/${res.body.id}`, { token: user.token })).body.labels).toEqual([]);
    const updated = await ctx.api.patch(`/tasks/${res.body.id}`, { title: 'renamed' }, { token: user.token });
    expect(updated.body.labels).toEqual([]);
    const list = await ctx.api.get('/tasks', { token: user.token });
    expect(list.body.map((t: TaskBody) => t.labels)).toEqual([[]]);
  });

  it('one label in any case: the first spelling is kept, sorted case-insensitively, duplicates collapse', async () => {
    const user = await registerAndLogin(ctx.api, 'case');
    const first = await created(user, ['Work', 'home', 'work', 'HOME', 'urgent']);
    expect(first.labels).toEqual(['home', 'urgent', 'Work']);
    const second = await created(user, ['WORK', 'Errands']);
    expect(second.labels).toEqual(['Errands', 'Work']);
    expect(await labelRows(user.id)).toEqual(['Errands', 'Work', 'home', 'urgent']);
    // Another user's vocabulary is their own: their first spelling is theirs.
    const other = await registerAndLogin(ctx.api, 'case-other');
    expect((await created(other, ['WORK'])).labels).toEqual(['WORK']);
    expect(await labelRows(user.id)).toEqual(['Errands', 'Work', 'home', 'urgent']);
  });

  it('PUT and PATCH replace the whole list when sent and keep it when not', async () => {
    const user = await registerAndLogin(ctx.api, 'replace');
    const task = await created(user, ['a', 'b']);
    const put = await ctx.api.put<TaskBody>(`/tasks/${task.id}`, { labels: ['c', 'B'] }, { token: user.token });
    expect(put.status, put.text).toBe(200);
    expect(put.body.labels).toEqual(['b', 'c']);
    const patch = await ctx.api.patch<TaskBody>(`/tasks/${task.id}`, { title: 'kept labels' }, { token: user.token });
    expect(patch.body.labels).toEqual(['b', 'c']);
    const cleared = await ctx.api.patch<TaskBody>(`/tasks/${task.id}`, { labels: [] }, { token: user.token });
    expect(cleared.body.labels).toEqual([]);
    expect((await ctx.api.get(`/tasks/${task.id}`, { token: user.token })).body.labels).toEqual([]);
    // The vocabulary keeps the words (GET /labels shows them with 0 tasks).
    expect(await labelRows(user.id)).toEqual(['a', 'b', 'c']);
  });

  it("an admin editing a user's task uses that user's vocabulary", async () => {
    const owner = await registerAndLogin(ctx.api, 'owned');
    const admin = await registerAndLogin(ctx.api, 'labels-admin');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const task = await created(owner, ['Garden']);
    const res = await ctx.api.patch<TaskBody>(`/tasks/${task.id}`, { labels: ['garden', 'Shed'] }, { token: admin.token });
    expect(res.body.labels).toEqual(['Garden', 'Shed']);
    expect(await labelRows(owner.id)).toEqual(['Garden', 'Shed']);
    expect(await labelRows(admin.id)).toEqual([]);
  });

  it('an idempotent replay of a create shows the labels', async () => {
    const user = await registerAndLogin(ctx.api, 'replay');
    const key = `labels-${Date.now()}`;
    const first = await create(user, { labels: ['x', 'A'] }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const again = await create(user, { labels: ['x', 'A'] }, { 'idempotency-key': key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.body.labels).toEqual(['A', 'x']);
    const other = await create(user, { labels: ['y'] }, { 'idempotency-key': key });
    expect(other.status).toBe(422);
  });
});

describe('a changed label list is a change', () => {
  it('a new version (ETag), a later updated_at and an update event; the same list again is no change', async () => {
    const user = await registerAndLogin(ctx.api, 'etag');
    const res = await create(user, { labels: ['one'] });
    const task = res.body;
    const etag = res.headers.get('etag') as string;
    const changed = await ctx.api.patch<TaskBody>(`/tasks/${task.id}`, { labels: ['one', 'two'] }, { token: user.token });
    expect(changed.status).toBe(200);
    const newEtag = changed.headers.get('etag') as string;
    expect(newEtag).not.toBe(etag);
    expect(Date.parse(changed.body.updated_at)).toBeGreaterThan(Date.parse(task.updated_at));
    // The old ETag no longer matches: 412, and nothing changes.
    const stale = await ctx.api.patch(
      `/tasks/${task.id}`,
      { labels: ['three'] },
      { token: user.token, headers: { 'if-match': etag } },
    );
    expect(stale.status).toBe(412);
    expect((await ctx.api.get(`/tasks/${task.id}`, { token: user.token })).body.labels).toEqual(['one', 'two']);
    expect(await labelRows(user.id)).toEqual(['one', 'two']);
    // The current one does.
    const fresh = await ctx.api.patch<TaskBody>(
      `/tasks/${task.id}`,
      { labels: ['three'] },
      { token: user.token, headers: { 'if-match': newEtag } },
    );
    expect(fresh.status, fresh.text).toBe(200);
    expect(fresh.body.labels).toEqual(['three']);
    // If-None-Match with the old tag is not a 304 any more.
    const read = await ctx.api.get(`/tasks/${task.id}`, { token: user.token, headers: { 'if-none-match': newEtag } });
    expect(read.status).toBe(200);
    // The same list, in another case and order: nothing changes, no event.
    const same = await ctx.api.patch<TaskBody>(`/tasks/${task.id}`, { labels: ['THREE', 'three'] }, { token: user.token });
    expect(same.headers.get('etag')).toBe(fresh.headers.get('etag'));
    expect(same.body.updated_at).toBe(fresh.body.updated_at);
    const events = await eventsOf(task.id);
    expect(events.map((e) => [e.type, e.data.labels])).toEqual([
      ['task.created', ['one']],
      ['task.updated', ['one', 'two']],
      ['task.updated', ['three']],
    ]);
  });

  it('events carry the labels as the API shows them, on create, update and delete', async () => {
    const user = await registerAndLogin(ctx.api, 'events');
    const plain = await create(user, {});
    const labelled = await created(user, ['b', 'A']);
    await ctx.api.patch(`/tasks/${plain.body.id}`, { status: 'completed' }, { token: user.token });
    const both = await ctx.api.patch<TaskBody>(`/tasks/${labelled.id}`, { title: 'both', labels: ['c'] }, { token: user.token });
    await ctx.api.delete(`/tasks/${labelled.id}`, { token: user.token });
    const plainEvents = await eventsOf(plain.body.id);
    expect(plainEvents.map((e) => [e.type, e.data.labels])).toEqual([
      ['task.created', []],
      ['task.updated', []],
    ]);
    const events = await eventsOf(labelled.id);
    expect(events.map((e) => e.type)).toEqual(['task.created', 'task.updated', 'task.deleted']);
    expect(events[0]?.data).toEqual(labelled);
    expect(events[1]?.data).toEqual(both.body);
    expect(events[2]?.data.labels).toEqual(['c']);
    // Deleting the task removes its label rows, not the owner's labels.
    const { rows } = await ctx.db.pool.query('SELECT 1 FROM task_labels WHERE task_id = $1', [labelled.id]);
    expect(rows).toEqual([]);
    expect(await labelRows(user.id)).toEqual(['A', 'b', 'c']);
  });
});

describe('GET /tasks?label=', () => {
  let user: User;
  let ids: Record<string, number>;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'filter');
    ids = {};
    for (const [name, labels] of Object.entries({ t1: ['home'], t2: ['home', 'Urgent'], t3: ['urgent'], t4: [] as string[] })) {
      ids[name] = (await created(user, labels)).id;
    }
    // Another user's task with the same labels never shows.
    const other = await registerAndLogin(ctx.api, 'filter-other');
    await created(other, ['home', 'urgent']);
  });

  const listed = async (query: string) => {
    const res = await ctx.api.get<TaskBody[]>(`/tasks?${query}`, { token: user.token });
    expect(res.status, res.text).toBe(200);
    return { ids: res.body.map((t) => t.id).sort(), total: res.headers.get('x-total-count'), link: res.headers.get('link') };
  };

  it('one label, in any case, with an exact total', async () => {
    expect(await listed('label=HOME')).toMatchObject({ ids: [ids.t1, ids.t2].sort(), total: '2' });
    expect(await listed('label=urgent')).toMatchObject({ ids: [ids.t2, ids.t3].sort(), total: '2' });
  });

  it('several labels: the tasks carrying all of them; a label named twice counts once', async () => {
    expect(await listed('label=home,urgent')).toMatchObject({ ids: [ids.t2], total: '1' });
    expect(await listed(`label=${encodeURIComponent('home, HOME ,Urgent')}`)).toMatchObject({ ids: [ids.t2], total: '1' });
  });

  it('totals and links are exact across pages, and combine with other filters', async () => {
    const page = await listed('label=home&limit=1&offset=1');
    expect(page).toMatchObject({ total: '2' });
    expect(page.ids).toHaveLength(1);
    expect(page.link).toContain('label=home');
    expect(await listed('label=home&limit=1&offset=5')).toMatchObject({ ids: [], total: '2' });
    expect(await listed('label=home&q=a%20task')).toMatchObject({ ids: [ids.t1, ids.t2].sort(), total: '2' });
    expect(await listed('label=home&status=completed')).toMatchObject({ ids: [], total: '0' });
  });

  it('an unknown label gives an empty page, not an error', async () => {
    expect(await listed('label=nothing-like-it')).toEqual({ ids: [], total: '0', link: expect.any(String) });
    expect(await listed('label=home,nothing-like-it')).toMatchObject({ ids: [], total: '0' });
  });

  it('a malformed filter is a 422', async () => {
    for (const bad of ['', ',', 'home,', 'x'.repeat(51), 'a%09b']) {
      const res = await ctx.api.get(`/tasks?label=${bad}`, { token: user.token });
      expect(res.status, bad).toBe(422);
    }
  });

  it('q matches label names too', async () => {
    const q = await registerAndLogin(ctx.api, 'search');
    const task = await create(q, { title: 'plain title', labels: ['Groceries'] });
    await create(q, { title: 'unrelated' });
    const res = await ctx.api.get<TaskBody[]>('/tasks?q=grocer', { token: q.token });
    expect(res.body.map((t) => t.id)).toEqual([task.body.id]);
    expect(res.headers.get('x-total-count')).toBe('1');
  });
});
