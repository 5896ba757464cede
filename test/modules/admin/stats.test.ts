import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';

let ctx: TestContext;
let admin: Awaited<ReturnType<typeof registerAndLogin>>;
let user: Awaited<ReturnType<typeof registerAndLogin>>;

beforeAll(async () => {
  ctx = await setupTestApp();
  admin = await registerAndLogin(ctx.api, 'admin');
  user = await registerAndLogin(ctx.api);
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
});
afterAll(() => ctx.close());

const stats = async () => {
  const res = await ctx.api.get('/tasks/admin/stats', { token: admin.token });
  expect(res.status).toBe(200);
  return res.body;
};

describe('GET /tasks/admin/stats', () => {
  it('no token → 401, a user → 403, an admin → 200', async () => {
    expect((await ctx.api.get('/tasks/admin/stats')).status).toBe(401);
    const asUser = await ctx.api.get('/tasks/admin/stats', { token: user.token });
    expect(asUser.status).toBe(403);
    expect(asUser.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await ctx.api.get('/tasks/admin/stats', { token: admin.token })).status).toBe(200);
  });

  it('is correct before and after every create, update and delete', async () => {
    const before = await stats();
    expect(before).toEqual({
      total_users: 2,
      active_users: 2,
      total_tasks: 0,
      completed_tasks: 0,
      completion_rate: 0,
      tasks_by_status: { pending: 0, in_progress: 0, completed: 0 },
      tasks_by_priority: { low: 0, medium: 0, high: 0 },
      tasks_created_last_7_days: 0,
      tasks_completed_last_7_days: 0,
      overdue_tasks: 0,
      total_projects: 0,
    });

    const create = (body: object, token = user.token) => ctx.api.post('/tasks', body, { token }).then((r) => r.body);
    const a = await create({ title: 'a' });
    const b = await create({ title: 'b', status: 'completed', priority: 'high' });
    await create({ title: 'c', status: 'in_progress', priority: 'low' }, admin.token);
    const d = await create({ title: 'd', priority: 'high' });
    let s = await stats();
    expect(s).toMatchObject({
      total_tasks: 4,
      completed_tasks: 1,
      completion_rate: 25,
      tasks_by_status: { pending: 2, in_progress: 1, completed: 1 },
      tasks_by_priority: { low: 1, medium: 1, high: 2 },
      tasks_created_last_7_days: 4,
      tasks_completed_last_7_days: 1,
    });

    await ctx.api.patch(`/tasks/${a.id}`, { status: 'completed' }, { token: user.token });
    s = await stats();
    expect(s).toMatchObject({ completed_tasks: 2, completion_rate: 50, tasks_completed_last_7_days: 2 });
    expect(s.tasks_by_status).toEqual({ pending: 1, in_progress: 1, completed: 2 });

    // Leaving "completed" no longer counts as completed this week.
    await ctx.api.put(`/tasks/${b.id}`, { status: 'pending' }, { token: user.token });
    s = await stats();
    expect(s).toMatchObject({ completed_tasks: 1, tasks_completed_last_7_days: 1 });

    await ctx.api.delete(`/tasks/${d.id}`, { token: user.token });
    s = await stats();
    expect(s).toMatchObject({ total_tasks: 3, completion_rate: 33.33, tasks_by_priority: { low: 1, medium: 1, high: 1 } });

    // Old tasks and old completions fall out of the 7-day windows.
    await ctx.db.pool.query(
      "UPDATE tasks SET created_at = now() - interval '8 days', completed_at = now() - interval '8 days' WHERE id = $1",
      [a.id],
    );
    s = await stats();
    expect(s).toMatchObject({ tasks_created_last_7_days: 2, tasks_completed_last_7_days: 0, completed_tasks: 1 });

    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [user.id]);
    expect(await stats()).toMatchObject({ total_users: 2, active_users: 1 });
  });
});

describe('statistics stay exact', () => {
  it('under concurrent writes and when a user (and with it their tasks) is deleted', async () => {
    const writer = await registerAndLogin(ctx.api, 'writer');
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        ctx.api.post(
          '/tasks',
          { title: `c${i}`, priority: (['low', 'medium', 'high'] as const)[i % 3] },
          { token: writer.token },
        ),
      ),
    );
    await Promise.all(
      created.slice(0, 10).map((r) => ctx.api.patch(`/tasks/${r.body.id}`, { status: 'completed' }, { token: writer.token })),
    );
    const expected = async () => {
      const { rows } = await ctx.db.pool.query(
        "SELECT count(*)::int AS total, count(*) FILTER (WHERE status = 'completed')::int AS completed, count(*) FILTER (WHERE priority = 'high')::int AS high FROM tasks",
      );
      return rows[0];
    };
    let s = await stats();
    let truth = await expected();
    expect([s.total_tasks, s.completed_tasks, s.tasks_by_priority.high]).toEqual([truth.total, truth.completed, truth.high]);

    await ctx.db.pool.query('DELETE FROM users WHERE id = $1', [writer.id]);
    s = await stats();
    truth = await expected();
    expect([s.total_tasks, s.completed_tasks, s.tasks_by_priority.high]).toEqual([truth.total, truth.completed, truth.high]);
  });
});

describe('overdue_tasks', () => {
  it('counts the tasks due before now that are not completed, across users, as the overdue filter lists them', async () => {
    const late = await registerAndLogin(ctx.api, 'late');
    const before = (await stats()).overdue_tasks;
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const create = (body: object, token = late.token) => ctx.api.post('/tasks', body, { token }).then((r) => r.body);
    const a = await create({ title: 'overdue a', due_at: past });
    await create({ title: 'overdue b', due_at: '2001-01-01T00:00:00+01:00', status: 'in_progress' }, admin.token);
    const c = await create({ title: 'done late', due_at: past, status: 'completed' });
    await create({ title: 'due later', due_at: '2999-01-01T00:00:00Z' });
    await create({ title: 'never due' });
    expect((await stats()).overdue_tasks).toBe(before + 2);

    // Completing an overdue task ends it; reopening a completed one past its date makes it overdue again.
    await ctx.api.patch(`/tasks/${a.id}`, { status: 'completed' }, { token: late.token });
    expect((await stats()).overdue_tasks).toBe(before + 1);
    await ctx.api.patch(`/tasks/${c.id}`, { status: 'pending' }, { token: late.token });
    expect((await stats()).overdue_tasks).toBe(before + 2);
    // Moving the due date into the future or clearing it ends it too.
    await ctx.api.put(`/tasks/${c.id}`, { due_at: null }, { token: late.token });
    expect((await stats()).overdue_tasks).toBe(before + 1);

    // The same figure as the overdue filter over everyone's tasks, and as counting the rows.
    const listed = await ctx.api.get('/tasks?overdue=true&limit=1', { token: admin.token });
    const { rows } = await ctx.db.pool.query(
      "SELECT count(*)::int AS n FROM tasks WHERE due_at < now() AND status <> 'completed'",
    );
    const s = await stats();
    expect(s.overdue_tasks).toBe(rows[0].n);
    expect(listed.headers.get('x-total-count')).toBe(String(s.overdue_tasks));
    expect(s.overdue_tasks).toBeGreaterThan(0);
  });
});

describe('total_projects', () => {
  it("counts every user's projects, following creates and deletes", async () => {
    const maker = await registerAndLogin(ctx.api, 'maker');
    const before = (await stats()).total_projects;
    const a = await ctx.api.post('/projects', { name: 'counted a' }, { token: maker.token });
    await ctx.api.post('/projects', { name: 'counted b' }, { token: admin.token });
    expect((await stats()).total_projects).toBe(before + 2);
    await ctx.api.delete(`/projects/${a.body.id}`, { token: maker.token });
    const { rows } = await ctx.db.pool.query('SELECT count(*)::int AS n FROM projects');
    expect((await stats()).total_projects).toBe(rows[0].n);
    expect(rows[0].n).toBe(before + 1);
  });
});
