import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';
import { AMQP_URL, uniqueExchange } from '../../helpers/rabbitmq.js';

// Events on: renames and deletes record task.updated for each task whose labels change.
let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp({
    amqpUrl: AMQP_URL,
    events: { exchange: uniqueExchange('label-routes'), batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
  });
});
afterAll(() => ctx.close());

type User = Awaited<ReturnType<typeof registerAndLogin>>;

async function task(user: User, labels: string[]): Promise<TaskBody & { etag: string }> {
  const res = await ctx.api.post<TaskBody>('/tasks', { title: 'a task', labels }, { token: user.token });
  expect(res.status, res.text).toBe(201);
  return { ...res.body, etag: res.headers.get('etag') as string };
}

const read = async (user: User, id: number) => {
  const res = await ctx.api.get<TaskBody>(`/tasks/${id}`, { token: user.token });
  return { ...res.body, etag: res.headers.get('etag') as string };
};

const labelsOf = async (user: User) => (await ctx.api.get(`/labels`, { token: user.token })).body;

const path = (name: string) => `/labels/${encodeURIComponent(name)}`;

async function updates(taskId: number): Promise<unknown[]> {
  const { rows } = await ctx.db.pool.query<{ payload: { data: { labels: unknown } } }>(
    "SELECT payload FROM event_outbox WHERE aggregate_key = $1 AND type = 'task.updated' ORDER BY id",
    [`task:${taskId}`],
  );
  return rows.map((r) => r.payload.data.labels);
}

/** The label events recorded for a user (their subject), oldest first: type, subject, data, and the writing transaction. */
async function labelEvents(userId: number): Promise<Array<{ type: string; subject: unknown; data: unknown; xid: string }>> {
  const { rows } = await ctx.db.pool.query<{ type: string; payload: { subject: unknown; data: unknown }; xid: string }>(
    "SELECT type, payload, xmin::text AS xid FROM event_outbox WHERE aggregate_key = $1 AND type LIKE 'label.%' ORDER BY id",
    [`user:${userId}`],
  );
  return rows.map((r) => ({ type: r.type, subject: r.payload.subject, data: r.payload.data, xid: r.xid }));
}

/** The transactions that wrote a task's task.updated events, oldest first. */
async function updateTransactions(taskId: number): Promise<string[]> {
  const { rows } = await ctx.db.pool.query<{ xid: string }>(
    "SELECT xmin::text AS xid FROM event_outbox WHERE aggregate_key = $1 AND type = 'task.updated' ORDER BY id",
    [`task:${taskId}`],
  );
  return rows.map((r) => r.xid);
}

function expectNotFound(res: HttpResponse) {
  expect(res.status, res.text).toBe(404);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.detail).toBe('Label not found');
}

describe('GET /labels', () => {
  it("the caller's labels, sorted by name in any case, with how many of their tasks carry each", async () => {
    const user = await registerAndLogin(ctx.api, 'counts');
    const other = await registerAndLogin(ctx.api, 'counts-other');
    await task(user, ['home', 'Urgent']);
    await task(user, ['HOME']);
    await task(user, ['banana']);
    await task(other, ['home', 'secret-of-other']);
    const res = await ctx.api.get('/labels', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { name: 'banana', task_count: 1 },
      { name: 'home', task_count: 2 },
      { name: 'Urgent', task_count: 1 },
    ]);
    expect(await labelsOf(other)).toEqual([
      { name: 'home', task_count: 1 },
      { name: 'secret-of-other', task_count: 1 },
    ]);
    expect((await ctx.api.get('/labels')).status).toBe(401);
  });

  it('a label no task carries any more stays, with 0', async () => {
    const user = await registerAndLogin(ctx.api, 'zero');
    const t = await task(user, ['gone']);
    await ctx.api.patch(`/tasks/${t.id}`, { labels: [] }, { token: user.token });
    expect(await labelsOf(user)).toEqual([{ name: 'gone', task_count: 0 }]);
  });
});

describe('PATCH /labels/{name}', () => {
  it('renames a label on every task, found in any case; each task gets a new ETag and an event', async () => {
    const user = await registerAndLogin(ctx.api, 'rename');
    const a = await task(user, ['work', 'b-side']);
    const b = await task(user, ['Work']);
    const untouched = await task(user, ['other']);
    const res = await ctx.api.patch(path('WORK'), { name: '  Office  ' }, { token: user.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ name: 'Office', task_count: 2 });
    const [ra, rb, ru] = await Promise.all([read(user, a.id), read(user, b.id), read(user, untouched.id)]);
    expect(ra.labels).toEqual(['b-side', 'Office']);
    expect(rb.labels).toEqual(['Office']);
    expect(ra.etag).not.toBe(a.etag);
    expect(Date.parse(ra.updated_at)).toBeGreaterThan(Date.parse(a.updated_at));
    expect(rb.etag).not.toBe(b.etag);
    expect(ru.etag).toBe(untouched.etag);
    expect(await updates(a.id)).toEqual([['b-side', 'Office']]);
    expect(await updates(untouched.id)).toEqual([]);
    // The old ETag is stale now.
    const stale = await ctx.api.patch(`/tasks/${a.id}`, { title: 'x' }, { token: user.token, headers: { 'if-match': a.etag } });
    expect(stale.status).toBe(412);
    expect((await ctx.api.get('/tasks?label=office', { token: user.token })).headers.get('x-total-count')).toBe('2');
    expect((await ctx.api.get('/tasks?label=work', { token: user.token })).headers.get('x-total-count')).toBe('0');
  });

  it('a change of case only respells the label; the same name again changes nothing', async () => {
    const user = await registerAndLogin(ctx.api, 'respell');
    const t = await task(user, ['todo']);
    expect((await ctx.api.patch(path('todo'), { name: 'ToDo' }, { token: user.token })).body).toEqual({
      name: 'ToDo',
      task_count: 1,
    });
    const after = await read(user, t.id);
    expect(after.labels).toEqual(['ToDo']);
    expect(after.etag).not.toBe(t.etag);
    const same = await ctx.api.patch(path('todo'), { name: 'ToDo' }, { token: user.token });
    expect(same.body).toEqual({ name: 'ToDo', task_count: 1 });
    expect((await read(user, t.id)).etag).toBe(after.etag);
  });

  it('renaming onto an existing label merges them: a task with both ends with one', async () => {
    const user = await registerAndLogin(ctx.api, 'merge');
    const both = await task(user, ['chores', 'Housework']);
    const onlyOld = await task(user, ['chores']);
    const onlyTarget = await task(user, ['housework']);
    const res = await ctx.api.patch(path('Chores'), { name: 'HOUSEWORK' }, { token: user.token });
    expect(res.status, res.text).toBe(200);
    // The existing label's spelling is kept.
    expect(res.body).toEqual({ name: 'Housework', task_count: 3 });
    expect((await read(user, both.id)).labels).toEqual(['Housework']);
    expect((await read(user, onlyOld.id)).labels).toEqual(['Housework']);
    const target = await read(user, onlyTarget.id);
    expect(target.labels).toEqual(['Housework']);
    expect(target.etag).toBe(onlyTarget.etag);
    expect(await labelsOf(user)).toEqual([{ name: 'Housework', task_count: 3 }]);
    const { rows } = await ctx.db.pool.query('SELECT count(*)::int AS n FROM task_labels WHERE task_id = $1', [both.id]);
    expect(rows[0].n).toBe(1);
    expect(await updates(both.id)).toEqual([['Housework']]);
    expect(await updates(onlyTarget.id)).toEqual([]);
  });

  it('names are URL-encoded and validated like label values', async () => {
    const user = await registerAndLogin(ctx.api, 'encoded');
    const t = await task(user, ['a/b c%d', 'é ü']);
    expect((await ctx.api.patch(path('a/b c%d'), { name: 'plain' }, { token: user.token })).status).toBe(200);
    expect((await read(user, t.id)).labels).toEqual(['plain', 'é ü']);
    expect((await ctx.api.patch(path('É Ü'), { name: 'accents' }, { token: user.token })).body.name).toBe('accents');
    for (const bad of ['x'.repeat(51), 'a\tb', ' ']) {
      expect((await ctx.api.patch(path(bad), { name: 'ok' }, { token: user.token })).status, bad).toBe(422);
    }
    for (const bad of ['', 'x'.repeat(51), 'a\nb', '\u0007']) {
      expect((await ctx.api.patch(path('plain'), { name: bad }, { token: user.token })).status, bad).toBe(422);
    }
    expect((await ctx.api.patch(path('plain'), { name: 'ok', task_count: 3 }, { token: user.token })).status).toBe(422);
    expect((await read(user, t.id)).labels).toEqual(['accents', 'plain']);
  });

  it('an unknown label, or one of another user (admins included), is a 404, and theirs is untouched', async () => {
    const owner = await registerAndLogin(ctx.api, 'owner');
    const intruder = await registerAndLogin(ctx.api, 'intruder');
    const admin = await registerAndLogin(ctx.api, 'label-admin');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const t = await task(owner, ['private']);
    const missing = await ctx.api.patch(path('never-seen'), { name: 'x' }, { token: intruder.token });
    expectNotFound(missing);
    for (const caller of [intruder, admin]) {
      const foreign = await ctx.api.patch(path('private'), { name: 'stolen' }, { token: caller.token });
      expectNotFound(foreign);
      expect(foreign.text).toBe(missing.text);
      expectNotFound(await ctx.api.delete(path('private'), { token: caller.token }));
    }
    const after = await read(owner, t.id);
    expect(after.labels).toEqual(['private']);
    expect(after.etag).toBe(t.etag);
    expect(await labelsOf(owner)).toEqual([{ name: 'private', task_count: 1 }]);
    // An admin's own labels are theirs to manage.
    await task(admin, ['mine']);
    expect((await ctx.api.patch(path('mine'), { name: 'MINE' }, { token: admin.token })).status).toBe(200);
    expect((await ctx.api.delete(path('mine'), { token: admin.token })).status).toBe(204);
  });
});

describe('DELETE /labels/{name}', () => {
  it('removes the label from every task and the vocabulary: 204, new ETags and events', async () => {
    const user = await registerAndLogin(ctx.api, 'delete');
    const a = await task(user, ['drop', 'keep']);
    const b = await task(user, ['DROP']);
    const res = await ctx.api.delete(path('Drop'), { token: user.token });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const [ra, rb] = await Promise.all([read(user, a.id), read(user, b.id)]);
    expect(ra.labels).toEqual(['keep']);
    expect(rb.labels).toEqual([]);
    expect(ra.etag).not.toBe(a.etag);
    expect(rb.etag).not.toBe(b.etag);
    expect(await updates(b.id)).toEqual([[]]);
    expect(await labelsOf(user)).toEqual([{ name: 'keep', task_count: 1 }]);
    expectNotFound(await ctx.api.delete(path('drop'), { token: user.token }));
    // The name can be used afresh, with a new first spelling.
    expect((await task(user, ['DrOp'])).labels).toEqual(['DrOp']);
  });
});

describe('label events', () => {
  it('a rename records label.renamed (owner, old and new name, not merged, tasks now) with its task.updated events, in one transaction', async () => {
    const user = await registerAndLogin(ctx.api, 'ev-rename');
    const a = await task(user, ['Errands']);
    const b = await task(user, ['errands', 'other']);
    expect((await ctx.api.patch(path('ERRANDS'), { name: ' Shopping ' }, { token: user.token })).status).toBe(200);
    const [renamed] = await labelEvents(user.id);
    expect(await labelEvents(user.id)).toHaveLength(1);
    expect(renamed).toMatchObject({
      type: 'label.renamed',
      subject: { type: 'user', id: user.id },
      data: { user_id: user.id, name: 'Shopping', previous_name: 'Errands', merged: false, task_count: 2 },
    });
    expect(Object.keys(renamed?.data as object)).toEqual(['user_id', 'name', 'previous_name', 'merged', 'task_count']);
    // The task.updated events are kept, and were written by the same transaction as the label event.
    expect(await updates(a.id)).toEqual([['Shopping']]);
    expect([...(await updateTransactions(a.id)), ...(await updateTransactions(b.id))]).toEqual([renamed?.xid, renamed?.xid]);
    const { rows } = await ctx.db.pool.query('SELECT xmin::text AS xid FROM labels WHERE user_id = $1 AND name = $2', [
      user.id,
      'Shopping',
    ]);
    expect(rows[0]?.xid).toBe(renamed?.xid);
    // A label no task carries is renamed too, with 0.
    await ctx.api.patch(`/tasks/${b.id}`, { labels: ['other', 'spare'] }, { token: user.token });
    await ctx.api.patch(`/tasks/${b.id}`, { labels: ['other'] }, { token: user.token });
    expect((await ctx.api.patch(path('spare'), { name: 'Spare' }, { token: user.token })).status).toBe(200);
    expect((await labelEvents(user.id)).map((e) => e.data)).toEqual([
      renamed?.data,
      { user_id: user.id, name: 'Spare', previous_name: 'spare', merged: false, task_count: 0 },
    ]);
  });

  it('a merge says so, with the kept spelling and how many tasks carry the merged label now', async () => {
    const user = await registerAndLogin(ctx.api, 'ev-merge');
    await task(user, ['chores', 'Housework']);
    await task(user, ['Chores']);
    await task(user, ['housework']);
    await task(user, ['housework', 'x']);
    expect((await ctx.api.patch(path('CHORES'), { name: 'HOUSEWORK' }, { token: user.token })).body).toEqual({
      name: 'Housework',
      task_count: 4,
    });
    expect((await labelEvents(user.id)).map(({ type, data }) => ({ type, data }))).toEqual([
      {
        type: 'label.renamed',
        data: { user_id: user.id, name: 'Housework', previous_name: 'chores', merged: true, task_count: 4 },
      },
    ]);
  });

  it('a delete records label.deleted (owner, name, how many tasks lost it) with its task.updated events, in one transaction', async () => {
    const user = await registerAndLogin(ctx.api, 'ev-delete');
    const a = await task(user, ['Old', 'keep']);
    const b = await task(user, ['OLD']);
    await task(user, ['keep']);
    expect((await ctx.api.delete(path('old'), { token: user.token })).status).toBe(204);
    const events = await labelEvents(user.id);
    expect(events.map(({ type, subject, data }) => ({ type, subject, data }))).toEqual([
      { type: 'label.deleted', subject: { type: 'user', id: user.id }, data: { user_id: user.id, name: 'Old', task_count: 2 } },
    ]);
    expect(await updates(b.id)).toEqual([[]]);
    expect([...(await updateTransactions(a.id)), ...(await updateTransactions(b.id))]).toEqual([events[0]?.xid, events[0]?.xid]);
  });

  it("records nothing for a rename to exactly the same name, an unknown label, or another user's label (404)", async () => {
    const user = await registerAndLogin(ctx.api, 'ev-none');
    const intruder = await registerAndLogin(ctx.api, 'ev-intruder');
    const t = await task(user, ['Same']);
    const before = await ctx.db.pool.query('SELECT count(*)::int AS n FROM event_outbox');
    expect((await ctx.api.patch(path('same'), { name: 'Same' }, { token: user.token })).status).toBe(200);
    expect((await ctx.api.patch(path('Same'), { name: '  Same ' }, { token: user.token })).status).toBe(200);
    expectNotFound(await ctx.api.patch(path('never-seen'), { name: 'x' }, { token: user.token }));
    expectNotFound(await ctx.api.delete(path('never-seen'), { token: user.token }));
    expectNotFound(await ctx.api.patch(path('same'), { name: 'stolen' }, { token: intruder.token }));
    expectNotFound(await ctx.api.delete(path('same'), { token: intruder.token }));
    const after = await ctx.db.pool.query('SELECT count(*)::int AS n FROM event_outbox');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect(await labelEvents(user.id)).toEqual([]);
    expect(await labelEvents(intruder.id)).toEqual([]);
    expect(await updates(t.id)).toEqual([]);
  });
});

describe('concurrent writes', () => {
  it('first uses of one new name at once make one label, carried by every task', async () => {
    const user = await registerAndLogin(ctx.api, 'race');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        ctx.api.post<TaskBody>('/tasks', { title: `race ${i}`, labels: [i % 2 ? 'Race' : 'race', 'x'] }, { token: user.token }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    const spellings = new Set(results.map((r) => r.body.labels.join()));
    expect(spellings.size).toBe(1);
    const [label] = await labelsOf(user).then((all) => all.filter((l: { name: string }) => l.name.toLowerCase() === 'race'));
    expect(label.task_count).toBe(8);
  });

  it('renames, deletes and task writes on the same labels at once all succeed (no deadlock), and end consistent', async () => {
    const user = await registerAndLogin(ctx.api, 'busy');
    const tasks = await Promise.all(Array.from({ length: 6 }, () => task(user, ['alpha', 'beta'])));
    const writes = [
      ...tasks.map((t, i) =>
        ctx.api.patch(
          `/tasks/${t.id}`,
          { labels: i % 2 ? ['beta', 'alpha', 'gamma'] : ['gamma', 'beta'] },
          { token: user.token },
        ),
      ),
      ctx.api.patch(path('alpha'), { name: 'delta' }, { token: user.token }),
      ctx.api.patch(path('beta'), { name: 'GAMMA' }, { token: user.token }),
      ctx.api.delete(path('delta'), { token: user.token }),
    ];
    const statuses = (await Promise.all(writes)).map((r) => r.status);
    // A rename or delete may find its label already gone (404); nothing else may fail.
    expect(
      statuses.every((s) => s === 200 || s === 204 || s === 404),
      statuses.join(),
    ).toBe(true);
    expect(statuses.slice(0, tasks.length)).toEqual(Array(tasks.length).fill(200));
    // One label event for each rename or delete that succeeded (a retried deadlock records none twice).
    const labelWrites = statuses.slice(tasks.length).filter((s) => s !== 404).length;
    expect(await labelEvents(user.id)).toHaveLength(labelWrites);
    // What the tasks show is what GET /labels counts.
    const counts = new Map<string, number>();
    for (const t of tasks) for (const name of (await read(user, t.id)).labels) counts.set(name, (counts.get(name) ?? 0) + 1);
    const listed = (await labelsOf(user)) as Array<{ name: string; task_count: number }>;
    for (const { name, task_count } of listed) expect(task_count, name).toBe(counts.get(name) ?? 0);
    expect([...counts.keys()].every((name) => listed.some((l) => l.name === name))).toBe(true);
  });
});
