import { fillPlaceholders } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQuery, type TaskFilter } from '../../../src/modules/tasks/list-query.js';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';

// A user's list reads index ranges of their own tasks and of their projects' tasks, whatever plan the
// database caches: a prepared statement runs on a generic plan after a few executions, and for the
// OR of the two parts the generic plan walked every task in created_at order.

let ctx: TestContext;
let member: Awaited<ReturnType<typeof registerAndLogin>>;
let project: number;

beforeAll(async () => {
  ctx = await setupTestApp();
  member = await registerAndLogin(ctx.api, 'planner');
  const owner = await registerAndLogin(ctx.api, 'planowner');
  const res = await ctx.api.post('/projects', { name: 'plans' }, { token: owner.token });
  expect(res.status, res.text).toBe(201);
  project = (res.body as { id: number }).id;
  expect(
    (await ctx.api.post(`/projects/${project}/members`, { username: member.username, role: 'viewer' }, { token: owner.token }))
      .status,
  ).toBe(201);
  // 400 other users with 100 tasks each, the member with 2,000 of their own, the project with 200.
  await ctx.db.pool.query(
    `INSERT INTO users (username, email, hashed_password)
     SELECT 'plan' || k, 'plan' || k || '@example.com', 'x' FROM generate_series(1, 400) AS k`,
  );
  await ctx.db.pool.query(
    `INSERT INTO tasks (user_id, title)
     SELECT u.id, 'task ' || k FROM users u, generate_series(1, 100) AS k WHERE u.username LIKE 'plan%' AND u.username ~ '^plan[0-9]+$'`,
  );
  await ctx.db.pool.query(`INSERT INTO tasks (user_id, title) SELECT $1, 'mine ' || k FROM generate_series(1, 2000) AS k`, [
    member.id,
  ]);
  await ctx.db.pool.query(
    `INSERT INTO tasks (user_id, title, project_id) SELECT $1, 'shared ' || k, $2 FROM generate_series(1, 200) AS k`,
    [owner.id, project],
  );
  await ctx.db.pool.query('ANALYZE tasks; ANALYZE task_counts; ANALYZE project_members');
});
afterAll(() => ctx?.close());

/** The generic plan of a list's statement, as a prepared statement caches it (`analyze`: run, with the rows each node read). */
async function genericPlan(
  filter: Omit<TaskFilter, 'sort' | 'descending' | 'limit' | 'offset'>,
  values: Record<string, unknown>,
  analyze = false,
) {
  const query = listQuery(ctx.app.db, { sort: 'created_at', descending: true, limit: 20, offset: 0, ...filter }).toSQL();
  const params = fillPlaceholders(query.params, { limit: 21, offset: 0, ...values });
  const client = await ctx.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE list_plan AS ${query.sql}`);
    const literals = params.map((p) => (typeof p === 'number' ? String(p) : `'${String(p)}'`)).join(', ');
    const { rows } = await client.query(`EXPLAIN ${analyze ? '(ANALYZE, FORMAT JSON) ' : ''}EXECUTE list_plan(${literals})`);
    if (analyze) return rows[0]['QUERY PLAN'] as PlanNode[];
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL');
    client.release();
  }
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
  Plan?: PlanNode;
}
const nodes = (node: PlanNode): PlanNode[] => [
  node,
  ...[node.Plan, ...(node.Plans ?? [])].filter((n) => n !== undefined).flatMap(nodes),
];

describe("a user's list plan", () => {
  it('reads only as many of their own tasks as the page shows, however many they have', async () => {
    for (const extra of [{}, { keyset: { after: undefined } }]) {
      const [root] = (await genericPlan({ viewerId: member.id, ...extra }, { viewerId: member.id }, true)) as PlanNode[];
      const own = nodes(root as PlanNode).filter((n) => n['Index Name']?.startsWith('tasks_user_id_'));
      expect(own.length).toBeGreaterThan(0);
      // The page is 20 (a cursor page reads one more): not the 2,000 the user has.
      for (const node of own) expect(node['Actual Rows']).toBeLessThanOrEqual(21);
    }
  });

  it("reads their own tasks and their projects' tasks by index, and totals them from the counters by index", async () => {
    const plan = await genericPlan({ viewerId: member.id }, { viewerId: member.id });
    // Which of the creator's indexes serves the first part is the planner's choice; each is a range of one user.
    expect(plan).toMatch(/Index Scan using tasks_user_id_\w+ on tasks/);
    expect(plan).toContain('tasks_project_id_created_at_idx');
    expect(plan).not.toContain('tasks_created_at_id_idx');
    expect(plan).not.toMatch(/Seq Scan on (tasks|task_counts)/);
  });

  it("reads one project's tasks by that project's index", async () => {
    const plan = await genericPlan({ viewerId: member.id, project }, { viewerId: member.id, projectId: project });
    expect(plan).toContain('tasks_project_id_created_at_idx');
    expect(plan).not.toMatch(/Seq Scan on (tasks|task_counts)|tasks_created_at_id_idx/);
  });

  it("reads the tasks outside projects by their creator's index", async () => {
    const plan = await genericPlan({ viewerId: member.id, project: 'none' }, { viewerId: member.id });
    expect(plan).toMatch(/Index Scan using tasks_user_id_\w+ on tasks/);
    expect(plan).not.toMatch(/Seq Scan on (tasks|task_counts)|tasks_created_at_id_idx/);
  });

  it("reads an admin's default page from the created_at index", async () => {
    const plan = await genericPlan({}, {});
    expect(plan).toContain('tasks_created_at_id_idx');
    expect(plan).not.toMatch(/Seq Scan on tasks/);
  });
});
