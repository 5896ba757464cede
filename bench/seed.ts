import pg from 'pg';

export interface SeedOptions {
  users: number;
  tasksPerUser: number;
  /** The bcrypt hash every bench user gets (one password for all). */
  hash: string;
  /** Only add tasks so that each user has `tasksPerUser` (the users exist already). */
  topUpOnly?: boolean;
}

/**
 * Bulk SQL: users bench_user_1 … bench_user_N (the first an admin), each with tasks of every status
 * and priority, created evenly over the past year. One statement per table, then ANALYZE.
 */
export async function seed(databaseUrl: string, options: SeedOptions): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    if (!options.topUpOnly) {
      await client.query(
        `INSERT INTO users (username, email, hashed_password)
         SELECT 'bench_user_' || g, 'bench_user_' || g || '@example.com', $1 FROM generate_series(1, $2::int) g`,
        [options.hash, options.users],
      );
      await client.query("UPDATE users SET role = 'admin' WHERE username = 'bench_user_1'");
    }
    // Row triggers (counters, completed_at) would cost a statement per row: as a superuser, bulk-load
    // without them and set what they would have set; otherwise let them run.
    const bulk = await client
      .query("SET session_replication_role = 'replica'")
      .then(() => true)
      .catch(() => false);
    await client.query(
      `INSERT INTO tasks (user_id, title, description, status, priority, created_at, updated_at, completed_at)
       SELECT u.id,
              'Task ' || g || ' of ' || u.username,
              CASE WHEN g % 4 = 0 THEN NULL ELSE 'Details for task ' || g || ': ' || md5(u.id || '-' || g) END,
              (ARRAY['pending', 'in_progress', 'completed'])[1 + g % 3]::task_status,
              (ARRAY['low', 'medium', 'high'])[1 + (g / 3) % 3]::task_priority,
              now() - make_interval(mins => (g * 525600 / $1)::int),
              now() - make_interval(mins => (g * 525600 / $1)::int),
              CASE WHEN g % 3 = 2 THEN now() - make_interval(mins => (g * 525600 / $1)::int) END
       FROM users u
       CROSS JOIN LATERAL generate_series(
         (SELECT count(*) FROM tasks t WHERE t.user_id = u.id) + 1, $1::int) g
       WHERE u.username LIKE 'bench\\_user\\_%'`,
      [options.tasksPerUser],
    );
    if (bulk) {
      await client.query("SET session_replication_role = 'origin'");
      await client.query('TRUNCATE task_counts');
      // The migrations' benchmark seeds the schema from before tasks had projects (migration 0018).
      const byProject = await client.query(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'task_counts' AND column_name = 'project_id'",
      );
      await client.query(
        byProject.rows.length > 0
          ? `INSERT INTO task_counts (user_id, project_id, shard, status, priority, n)
             SELECT user_id, coalesce(project_id, 0), id % 4, status, priority, count(*) FROM tasks GROUP BY 1, 2, 3, 4, 5`
          : `INSERT INTO task_counts (user_id, shard, status, priority, n)
             SELECT user_id, id % 4, status, priority, count(*) FROM tasks GROUP BY 1, 2, 3, 4`,
      );
    }
    // VACUUM too: the bulk insert would otherwise start autovacuum on tasks during the first
    // scenario after it (at 1,000,000 tasks it slowed GET /tasks by half), and the visibility map
    // it sets is what a settled table has.
    await client.query('VACUUM (ANALYZE)');
  } finally {
    await client.end();
  }
}

/**
 * A project per owner, with `tasksPerProject` tasks its owner created in it, and every one of
 * `members` an editor of each: the users whose list is their own tasks and their projects'. Through
 * the row triggers (a few hundred rows), so the counters stay right.
 */
export async function shareProjects(
  databaseUrl: string,
  options: { owners: string[]; members: string[]; tasksPerProject: number },
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const owner of options.owners) {
      await client.query(
        `WITH owner AS (SELECT id FROM users WHERE username = $1),
           project AS (INSERT INTO projects (name) VALUES ('Shared by ' || $1) RETURNING id),
           members AS (
             INSERT INTO project_members (project_id, user_id, role)
             SELECT project.id, owner.id, 'owner'::project_role FROM project, owner
             UNION ALL
             SELECT project.id, u.id, 'editor'::project_role FROM project, users u WHERE u.username = ANY($2::text[])
           )
         INSERT INTO tasks (user_id, project_id, title, description, status, priority, created_at, updated_at)
         SELECT owner.id, project.id, 'Shared task ' || g, 'In the project of ' || $1,
                (ARRAY['pending', 'in_progress', 'completed'])[1 + g % 3]::task_status,
                (ARRAY['low', 'medium', 'high'])[1 + (g / 3) % 3]::task_priority,
                now() - make_interval(mins => g * 60), now() - make_interval(mins => g * 60)
         FROM owner, project, generate_series(1, $3::int) g`,
        [owner, options.members, options.tasksPerProject],
      );
    }
    await client.query('ANALYZE tasks; ANALYZE task_counts; ANALYZE projects; ANALYZE project_members');
  } finally {
    await client.end();
  }
}
