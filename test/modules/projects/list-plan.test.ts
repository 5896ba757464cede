import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listStatements } from '../../../src/modules/projects/list-query.js';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';

// An admin's page of projects reads the sort key's index from where the cursor left off, rather than
// sorting every project (the total is still a count of the matches).

let ctx: TestContext;
let owner: Awaited<ReturnType<typeof registerAndLogin>>;
const dialect = new PgDialect();

const INDEX_OF = {
  created_at: 'projects_created_at_id_idx',
  updated_at: 'projects_updated_at_id_idx',
  name: 'projects_lower_name_id_idx',
};
const AFTER = { created_at: '2030-01-01 00:05:00+00', updated_at: '2030-01-01 00:05:00+00', name: 'project 500' };

beforeAll(async () => {
  ctx = await setupTestApp();
  owner = await registerAndLogin(ctx.api, 'planowner');
  await ctx.db.pool.query(
    `WITH made AS (
       INSERT INTO projects (name, created_at, updated_at)
       SELECT 'project ' || k, timestamptz '2030-01-01' + k * interval '1 second', timestamptz '2030-01-01' + k * interval '1 second'
       FROM generate_series(1, 20000) AS k RETURNING id
     ) INSERT INTO project_members (project_id, user_id, role) SELECT id, $1, 'owner' FROM made`,
    [owner.id],
  );
  await ctx.db.pool.query('ANALYZE projects; ANALYZE project_members');
});
afterAll(() => ctx?.close());

describe("an admin's list of projects", () => {
  for (const key of ['created_at', 'updated_at', 'name'] as const) {
    for (const sort of [key, `-${key}`] as const) {
      it(`by ${sort}, a cursor page reads ${INDEX_OF[key]} and sorts nothing`, async () => {
        const { page } = listStatements(owner.id, true, {
          sort,
          limit: 20,
          offset: 0,
          keyset: { after: { value: AFTER[key], id: 500 } },
        });
        const query = dialect.sqlToQuery(page);
        const { rows } = await ctx.db.pool.query(`EXPLAIN ${query.sql}`, query.params);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toContain(INDEX_OF[key]);
        expect(plan).not.toMatch(/\bSort\b/);
      });
    }
  }
});
