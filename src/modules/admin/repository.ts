import { sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import type { Stats } from './schemas.js';

interface StatsRow extends Record<string, unknown> {
  total_users: string;
  active_users: string;
  total_tasks: string;
  pending: string;
  in_progress: string;
  completed: string;
  low: string;
  medium: string;
  high: string;
  created_7d: string;
  completed_7d: string;
}

export function createAdminRepository(db: Database) {
  return {
    /** Every figure from one aggregate statement: no task row leaves the database. */
    async stats(): Promise<Stats> {
      const { rows } = await db.execute<StatsRow>(sql`
        SELECT
          u.total_users, u.active_users,
          t.total_tasks, t.pending, t.in_progress, t.completed, t.low, t.medium, t.high, t.created_7d,
          (SELECT count(*) FROM tasks WHERE completed_at >= now() - interval '7 days') AS completed_7d
        FROM
          (SELECT count(*) AS total_users, count(*) FILTER (WHERE is_active) AS active_users FROM users) u,
          (SELECT count(*) AS total_tasks,
                  count(*) FILTER (WHERE status = 'pending') AS pending,
                  count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
                  count(*) FILTER (WHERE status = 'completed') AS completed,
                  count(*) FILTER (WHERE priority = 'low') AS low,
                  count(*) FILTER (WHERE priority = 'medium') AS medium,
                  count(*) FILTER (WHERE priority = 'high') AS high,
                  count(*) FILTER (WHERE created_at >= now() - interval '7 days') AS created_7d
           FROM tasks) t`);
      const r = rows[0] as StatsRow;
      const n = (v: string) => Number(v);
      const total = n(r.total_tasks);
      const completed = n(r.completed);
      return {
        total_users: n(r.total_users),
        active_users: n(r.active_users),
        total_tasks: total,
        completed_tasks: completed,
        completion_rate: total === 0 ? 0 : Math.round((completed / total) * 10_000) / 100,
        tasks_by_status: { pending: n(r.pending), in_progress: n(r.in_progress), completed },
        tasks_by_priority: { low: n(r.low), medium: n(r.medium), high: n(r.high) },
        tasks_created_last_7_days: n(r.created_7d),
        tasks_completed_last_7_days: n(r.completed_7d),
      };
    },
  };
}
