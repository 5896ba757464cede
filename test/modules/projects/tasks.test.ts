import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import { AMQP_URL, uniqueExchange } from '../../helpers/rabbitmq.js';
import { type Account, expectProblem } from '../../helpers/security.js';
import { CALLERS, type Caller, type Cast, castProject } from './fixtures.js';

// Tasks in projects: who sees them, who changes them, moving them, the list's project filter and
// totals, and what a project's deletion does to them.

let ctx: TestContext;
let cast: Cast;

beforeAll(async () => {
  // Events on: the outbox is read back below.
  ctx = await setupTestApp({
    amqpUrl: AMQP_URL,
    events: { exchange: uniqueExchange('project-tasks'), batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
  });
  const admin = await registerAndLogin(ctx.api, 'tadmin');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  cast = {
    admin,
    owner: await registerAndLogin(ctx.api, 'towner'),
    editor: await registerAndLogin(ctx.api, 'teditor'),
    viewer: await registerAndLogin(ctx.api, 'tviewer'),
    outsider: await registerAndLogin(ctx.api, 'toutsider'),
  };
});
afterAll(() => ctx?.close());

const token = (who: Caller | Account) => (typeof who === 'string' ? cast[who].token : who.token);
const MISSING = 2 ** 31 - 1;

const create = (who: Caller | Account, body: Record<string, unknown>) => ctx.api.post('/tasks', body, { token: token(who) });
async function created(who: Caller | Account, body: Record<string, unknown>) {
  const res = await create(who, body);
  expect(res.status, res.text).toBe(201);
  return res.body as { id: number; user_id: number; project_id: number | null; title: string };
}
const taskRow = async (id: number) => (await ctx.db.pool.query('SELECT * FROM tasks WHERE id = $1', [id])).rows[0];
const list = (who: Caller | Account, query = '') => ctx.api.get(`/tasks${query}`, { token: token(who) });
const listedIds = async (who: Caller | Account, query = '') => {
  const res = await list(who, query);
  expect(res.status, res.text).toBe(200);
  return (res.body as Array<{ id: number }>).map((t) => t.id).sort((a, b) => a - b);
};
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);

describe('creating a task in a project', () => {
  it("is for the owner, editors and admins; a viewer gets a 403, an outsider the missing project's 422, and nothing is made", async () => {
    const project = await castProject(ctx.api, cast, 'create rights');
    for (const who of ['owner', 'editor', 'admin'] as const) {
      const task = await created(who, { title: `by ${who}`, project_id: project });
      expect(task.project_id).toBe(project);
      expect(task.user_id).toBe(cast[who].id);
    }
    const before = (await ctx.db.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n;
    expectProblem(await create('viewer', { title: 'by viewer', project_id: project }), 403);
    const foreign = await create('outsider', { title: 'by outsider', project_id: project });
    const missing = await create('outsider', { title: 'by outsider', project_id: MISSING });
    expectProblem(foreign, 422);
    expect(foreign.text).toBe(missing.text);
    expect(foreign.body.errors).toEqual([expect.objectContaining({ field: 'project_id', location: 'body' })]);
    expectProblem(await create('admin', { title: 'nowhere', project_id: MISSING }), 422);
    expect((await ctx.db.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n).toBe(before);
  });

  it("defaults to no project: an old client's task is its creator's alone, as before", async () => {
    const task = await created('editor', { title: 'mine' });
    expect(task.project_id).toBeNull();
    for (const who of ['owner', 'viewer', 'outsider'] as const) {
      expect((await ctx.api.get(`/tasks/${task.id}`, { token: token(who) })).status).toBe(404);
    }
  });
});

describe('reading a project task', () => {
  it("every member and an admin read it; an outsider gets exactly the missing task's 404", async () => {
    const project = await castProject(ctx.api, cast, 'read rights');
    const task = await created('editor', { title: 'shared', project_id: project });
    for (const who of ['owner', 'editor', 'viewer', 'admin'] as const) {
      const res = await ctx.api.get(`/tasks/${task.id}`, { token: token(who) });
      expect(res.status, `${who}: ${res.text}`).toBe(200);
      expect(res.body).toMatchObject({ id: task.id, project_id: project, user_id: cast.editor.id });
    }
    const foreign = await ctx.api.get(`/tasks/${task.id}`, { token: token('outsider') });
    const missing = await ctx.api.get(`/tasks/${MISSING}`, { token: token('outsider') });
    expect(foreign.status).toBe(404);
    expect(foreign.text).toBe(missing.text);
  });
});

describe('changing and deleting a project task', () => {
  it('owner, editors and admins change any task of the project; user_id stays the creator', async () => {
    const project = await castProject(ctx.api, cast, 'write rights');
    const task = await created('owner', { title: 'to edit', project_id: project });
    for (const who of ['editor', 'admin', 'owner'] as const) {
      const res = await ctx.api.patch(`/tasks/${task.id}`, { title: `edited by ${who}` }, { token: token(who) });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ title: `edited by ${who}`, user_id: cast.owner.id, project_id: project });
    }
    const put = await ctx.api.put(`/tasks/${task.id}`, { status: 'completed', labels: ['shared'] }, { token: token('editor') });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ status: 'completed', labels: ['shared'] });
    // Labels are the creator's vocabulary, whoever sets them.
    const labels = await ctx.db.pool.query('SELECT user_id::int AS user_id FROM labels WHERE name = $1', ['shared']);
    expect(labels.rows).toEqual([{ user_id: cast.owner.id }]);
  });

  it('a viewer gets a 403 on PUT, PATCH and DELETE, even with a stale If-Match, and nothing changes', async () => {
    const project = await castProject(ctx.api, cast, 'viewer refused');
    const task = await created('editor', { title: 'look only', project_id: project });
    const before = await taskRow(task.id);
    const stale = { 'if-match': '"task-1-99"' };
    for (const send of [
      () => ctx.api.put(`/tasks/${task.id}`, { title: 'no' }, { token: token('viewer') }),
      () => ctx.api.patch(`/tasks/${task.id}`, { labels: ['no'] }, { token: token('viewer') }),
      () => ctx.api.patch(`/tasks/${task.id}`, { project_id: null }, { token: token('viewer') }),
      () => ctx.api.patch(`/tasks/${task.id}`, { title: 'no' }, { token: token('viewer'), headers: stale }),
      () => ctx.api.delete(`/tasks/${task.id}`, { token: token('viewer') }),
      () => ctx.api.delete(`/tasks/${task.id}`, { token: token('viewer'), headers: stale }),
    ]) {
      expectProblem(await send(), 403);
    }
    expect(await taskRow(task.id)).toEqual(before);
  });

  it("an outsider gets the missing task's 404 on every write, and nothing changes", async () => {
    const project = await castProject(ctx.api, cast, 'outsider refused');
    const task = await created('editor', { title: 'not yours', project_id: project });
    const before = await taskRow(task.id);
    for (const send of [
      (id: number) => ctx.api.put(`/tasks/${id}`, { title: 'no' }, { token: token('outsider') }),
      (id: number) => ctx.api.patch(`/tasks/${id}`, { project_id: null }, { token: token('outsider') }),
      (id: number) => ctx.api.delete(`/tasks/${id}`, { token: token('outsider') }),
    ]) {
      const foreign = await send(task.id);
      const missing = await send(MISSING);
      expect(foreign.status).toBe(404);
      expect(foreign.text).toBe(missing.text);
    }
    expect(await taskRow(task.id)).toEqual(before);
  });

  it("an editor deletes another member's task; If-Match still guards it (412)", async () => {
    const project = await castProject(ctx.api, cast, 'delete rights');
    const task = await created('owner', { title: 'to delete', project_id: project });
    expectProblem(
      await ctx.api.delete(`/tasks/${task.id}`, { token: token('editor'), headers: { 'if-match': `"task-${task.id}-99"` } }),
      412,
    );
    expect((await ctx.api.delete(`/tasks/${task.id}`, { token: token('editor') })).status).toBe(204);
    expect(await taskRow(task.id)).toBeUndefined();
  });
});

describe('moving a task', () => {
  it("into a project needs an editor's rights there: a viewer's 403, an outsider's 422 like a missing project", async () => {
    const project = await castProject(ctx.api, cast, 'move in');
    const mine = await created('viewer', { title: 'my own' });
    expectProblem(await ctx.api.patch(`/tasks/${mine.id}`, { project_id: project }, { token: token('viewer') }), 403);
    const outsiders = await created('outsider', { title: 'outsider own' });
    const foreign = await ctx.api.patch(`/tasks/${outsiders.id}`, { project_id: project }, { token: token('outsider') });
    const missing = await ctx.api.patch(`/tasks/${outsiders.id}`, { project_id: MISSING }, { token: token('outsider') });
    expectProblem(foreign, 422);
    expect(foreign.text).toBe(missing.text);
    expect((await taskRow(mine.id)).project_id).toBeNull();
    expect((await taskRow(outsiders.id)).project_id).toBeNull();

    const editors = await created('editor', { title: 'editor own' });
    const moved = await ctx.api.patch(`/tasks/${editors.id}`, { project_id: project }, { token: token('editor') });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body.project_id).toBe(project);
    expect((await ctx.api.get(`/tasks/${editors.id}`, { token: token('viewer') })).status).toBe(200);
  });

  it("out of a project (null) makes it its creator's alone: the editor who moved it sees it no more", async () => {
    const project = await castProject(ctx.api, cast, 'move out');
    const task = await created('owner', { title: 'going home', project_id: project });
    const moved = await ctx.api.patch(`/tasks/${task.id}`, { project_id: null }, { token: token('editor') });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toMatchObject({ project_id: null, user_id: cast.owner.id });
    expect((await ctx.api.get(`/tasks/${task.id}`, { token: token('editor') })).status).toBe(404);
    expect((await ctx.api.get(`/tasks/${task.id}`, { token: token('owner') })).status).toBe(200);
  });

  it('between projects needs the right to change it where it is and to edit where it goes', async () => {
    const from = await castProject(ctx.api, cast, 'from');
    const to = await castProject(ctx.api, cast, 'to');
    // The viewer owns a project of their own: moving into it is theirs to do, moving out of `from` is not.
    const viewersOwn = (await ctx.api.post('/projects', { name: 'viewer owns' }, { token: token('viewer') })).body.id;
    const task = await created('editor', { title: 'travelling', project_id: from });
    expectProblem(await ctx.api.patch(`/tasks/${task.id}`, { project_id: viewersOwn }, { token: token('viewer') }), 403);
    const moved = await ctx.api.patch(`/tasks/${task.id}`, { project_id: to }, { token: token('editor') });
    expect(moved.status, moved.text).toBe(200);
    expect((await taskRow(task.id)).project_id).toBe(String(to));
    const byAdmin = await ctx.api.patch(`/tasks/${task.id}`, { project_id: viewersOwn }, { token: token('admin') });
    expect(byAdmin.status, byAdmin.text).toBe(200);
    expectProblem(await ctx.api.patch(`/tasks/${task.id}`, { project_id: MISSING }, { token: token('admin') }), 422);
  });
});

describe('GET /tasks with projects', () => {
  let project: number;
  let other: number;
  const ids: Record<string, number[]> = {};

  beforeAll(async () => {
    project = await castProject(ctx.api, cast, 'listed');
    other = await castProject(ctx.api, cast, 'listed too');
    // A member of `listed`, of its own tasks, and of nothing else.
    const lister = await registerAndLogin(ctx.api, 'tlister');
    (cast as Cast & { lister?: Account }).lister = lister;
    await ctx.api.post(`/projects/${project}/members`, { username: lister.username, role: 'viewer' }, { token: token('owner') });
    ids.personal = [
      (await created(lister, { title: 'personal one' })).id,
      (await created(lister, { title: 'personal two', status: 'completed' })).id,
    ];
    ids.project = [
      (await created('owner', { title: 'project one' })).id, // not in the project: the owner's own
      (await created('owner', { title: 'project two', project_id: project })).id,
      (await created('editor', { title: 'project three', project_id: project, status: 'completed' })).id,
    ];
    ids.ownersOwn = [ids.project.shift() as number];
    ids.other = [(await created('editor', { title: 'elsewhere', project_id: other })).id];
  });
  const lister = () => (cast as Cast & { lister: Account }).lister;

  it("lists the caller's own tasks and their projects' tasks, with a total that counts them", async () => {
    const res = await list(lister(), '?limit=100');
    expect(res.status).toBe(200);
    expect(sorted(res.body.map((t: { id: number }) => t.id))).toEqual(sorted([...ids.personal!, ...ids.project!]));
    expect(res.headers.get('x-total-count')).toBe('4');
    const completed = await list(lister(), '?status=completed');
    expect(completed.headers.get('x-total-count')).toBe('2');
    expect(sorted(completed.body.map((t: { id: number }) => t.id))).toEqual(sorted([ids.personal![1]!, ids.project![1]!]));
  });

  it('project_id=N narrows to a project, project_id=none to the tasks in none', async () => {
    expect(await listedIds(lister(), `?project_id=${project}`)).toEqual(sorted(ids.project!));
    expect((await list(lister(), `?project_id=${project}`)).headers.get('x-total-count')).toBe('2');
    expect(await listedIds(lister(), '?project_id=none')).toEqual(sorted(ids.personal!));
    expect((await list(lister(), '?project_id=none')).headers.get('x-total-count')).toBe('2');
    // A project the caller is not in lists nothing, as one that does not exist.
    for (const id of [other, MISSING]) {
      const res = await list(lister(), `?project_id=${id}`);
      expect(res.body).toEqual([]);
      expect(res.headers.get('x-total-count')).toBe('0');
    }
    expect(await listedIds('admin', `?project_id=${other}`)).toEqual(ids.other);
    expectProblem(await list(lister(), '?project_id=0'), 422);
    expectProblem(await list(lister(), '?project_id=some'), 422);
  });

  it('the counted totals agree with the rows for every filter that uses the counters, and with q', async () => {
    for (const query of ['', '?status=pending', '?priority=medium', `?project_id=${project}`, '?project_id=none', '?q=project']) {
      const res = await list(lister(), `${query}${query ? '&' : '?'}limit=100`);
      expect(res.headers.get('x-total-count'), query).toBe(String(res.body.length));
    }
  });

  it('cursor pages walk the same tasks as one page, bound to the project filter', async () => {
    const walked: number[] = [];
    let next = `/tasks?project_id=${project}&limit=1&cursor=`;
    for (let guard = 0; next && guard < 10; guard++) {
      const res = await ctx.api.get(next.replace(/^.*\/api\/v1/, ''), { token: token(lister()) });
      expect(res.status, res.text).toBe(200);
      walked.push(...res.body.map((t: { id: number }) => t.id));
      next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? '';
    }
    expect(sorted(walked)).toEqual(sorted(ids.project!));
    const first = await ctx.api.get(`/tasks?project_id=${project}&limit=1&cursor=`, { token: token(lister()) });
    const cursor = /cursor=([^&>]+)/.exec(/<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1] ?? '')?.[1];
    expect(cursor).toBeDefined();
    expectProblem(await ctx.api.get(`/tasks?project_id=none&limit=1&cursor=${cursor}`, { token: token(lister()) }), 422);
  });

  it('an admin sees every task, and user_id still narrows to a creator', async () => {
    const all = await listedIds('admin', `?limit=100&user_id=${cast.editor.id}`);
    expect(all).toEqual(expect.arrayContaining([ids.project![1]!, ids.other![0]!]));
    const editorsOwnView = await listedIds('editor', `?limit=100&user_id=${cast.editor.id}`);
    expect(editorsOwnView).toEqual(expect.arrayContaining([ids.project![1]!, ids.other![0]!]));
    expectProblem(await list('editor', `?user_id=${cast.owner.id}`), 403);
  });
});

describe('a change of membership applies to the very next request', () => {
  it('a removed member no longer sees the tasks; a demoted editor can no longer change them', async () => {
    const project = await castProject(ctx.api, cast, 'membership');
    const member = await registerAndLogin(ctx.api, 'tmember');
    await ctx.api.post(`/projects/${project}/members`, { username: member.username, role: 'editor' }, { token: token('owner') });
    const theirs = await created(member, { title: 'made as editor', project_id: project });
    expect((await ctx.api.patch(`/tasks/${theirs.id}`, { title: 'ok' }, { token: member.token })).status).toBe(200);

    await ctx.api.patch(`/projects/${project}/members/${member.id}`, { role: 'viewer' }, { token: token('owner') });
    expectProblem(await ctx.api.patch(`/tasks/${theirs.id}`, { title: 'no' }, { token: member.token }), 403);
    expect((await ctx.api.get(`/tasks/${theirs.id}`, { token: member.token })).status).toBe(200);

    await ctx.api.delete(`/projects/${project}/members/${member.id}`, { token: token('owner') });
    // Even the task they created: a project's task is its members'.
    expect((await ctx.api.get(`/tasks/${theirs.id}`, { token: member.token })).status).toBe(404);
    expect(await listedIds(member)).toEqual([]);
    expect((await list(member)).headers.get('x-total-count')).toBe('0');
  });

  it('GET /labels counts only the tasks the caller can still see', async () => {
    const project = await castProject(ctx.api, cast, 'label counts');
    const member = await registerAndLogin(ctx.api, 'tlabels');
    await ctx.api.post(`/projects/${project}/members`, { username: member.username, role: 'editor' }, { token: token('owner') });
    await created(member, { title: 'own', labels: ['errand'] });
    await created(member, { title: 'shared', labels: ['errand'], project_id: project });
    const counts = async () => (await ctx.api.get('/labels', { token: member.token })).body;
    expect(await counts()).toEqual([{ name: 'errand', task_count: 2 }]);
    await ctx.api.delete(`/projects/${project}/members/${member.id}`, { token: member.token });
    expect(await counts()).toEqual([{ name: 'errand', task_count: 1 }]);
  });
});

describe('deleting a project that has tasks', () => {
  it('is a 409 unless with_tasks=true, which deletes its tasks, each with a task.deleted event that names the project', async () => {
    const project = await castProject(ctx.api, cast, 'doomed');
    const tasks = [
      await created('owner', { title: 'doomed one', project_id: project }),
      await created('editor', { title: 'doomed two', project_id: project, labels: ['gone'] }),
    ];
    const survivor = await created('editor', { title: 'survives' });
    const refused = await ctx.api.delete(`/projects/${project}`, { token: token('owner') });
    expectProblem(refused, 409);
    expect(refused.body.detail).toMatch(/2 task\(s\).*with_tasks=true/);
    expect(await taskRow(tasks[0]!.id)).toBeDefined();

    expectProblem(await ctx.api.delete(`/projects/${project}?with_tasks=true`, { token: token('editor') }), 403);
    expect((await ctx.api.delete(`/projects/${project}?with_tasks=true`, { token: token('owner') })).status).toBe(204);
    for (const task of tasks) expect(await taskRow(task.id)).toBeUndefined();
    expect(await taskRow(survivor.id)).toBeDefined();
    const { rows } = await ctx.db.pool.query<{ key: string; payload: any }>(
      "SELECT aggregate_key AS key, payload FROM event_outbox WHERE type = 'task.deleted' AND aggregate_key = ANY($1) ORDER BY id",
      [tasks.map((t) => `task:${t.id}`)],
    );
    expect(rows.map((r) => r.payload.data.project_id)).toEqual([project, project]);
    expect(rows.map((r) => r.payload.actor.id)).toEqual([cast.owner.id, cast.owner.id]);
    const counters = await ctx.db.pool.query('SELECT coalesce(sum(n), 0)::int AS n FROM task_counts WHERE project_id = $1', [
      project,
    ]);
    expect(counters.rows[0].n).toBe(0);
  });
});

describe('events', () => {
  it('task events carry project_id: a create in a project, a move out', async () => {
    const project = await castProject(ctx.api, cast, 'evented');
    const task = await created('editor', { title: 'evented', project_id: project });
    await ctx.api.patch(`/tasks/${task.id}`, { project_id: null }, { token: token('editor') });
    const { rows } = await ctx.db.pool.query<{ type: string; payload: any }>(
      'SELECT type, payload FROM event_outbox WHERE aggregate_key = $1 ORDER BY id',
      [`task:${task.id}`],
    );
    expect(rows.map((r) => [r.type, r.payload.data.project_id])).toEqual([
      ['task.created', project],
      ['task.updated', null],
    ]);
  });
});

describe('the callers, route by route', () => {
  it('GET, PATCH, DELETE of a project task: outsider 404, viewer read-only 403, editor, owner and admin allowed', async () => {
    const project = await castProject(ctx.api, cast, 'matrix');
    const expected: Record<Caller, { get: number; patch: number; delete: number }> = {
      outsider: { get: 404, patch: 404, delete: 404 },
      viewer: { get: 200, patch: 403, delete: 403 },
      editor: { get: 200, patch: 200, delete: 204 },
      owner: { get: 200, patch: 200, delete: 204 },
      admin: { get: 200, patch: 200, delete: 204 },
    };
    for (const who of CALLERS) {
      const task = await created('owner', { title: `for ${who}`, project_id: project });
      const got = {
        get: (await ctx.api.get(`/tasks/${task.id}`, { token: token(who) })).status,
        patch: (await ctx.api.patch(`/tasks/${task.id}`, { priority: 'high' }, { token: token(who) })).status,
        delete: (await ctx.api.delete(`/tasks/${task.id}`, { token: token(who) })).status,
      };
      expect(got, who).toEqual(expected[who]);
    }
  });
});
