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
    /** Every figure from one statement over the counters and two index ranges: no task row leaves the database. */
    async stats(): Promise<Stats> {
      // Counts come from task_counts (kept by triggers); the 7-day figures are index range scans.
      const { rows } = await db.execute<StatsRow>(sql`
        SELECT
          (SELECT count(*) FROM users) AS total_users,
          (SELECT count(*) FROM users WHERE is_active) AS active_users,
          coalesce(sum(n), 0) AS total_tasks,
          coalesce(sum(n) FILTER (WHERE status = 'pending'), 0) AS pending,
          coalesce(sum(n) FILTER (WHERE status = 'in_progress'), 0) AS in_progress,
          coalesce(sum(n) FILTER (WHERE status = 'completed'), 0) AS completed,
          coalesce(sum(n) FILTER (WHERE priority = 'low'), 0) AS low,
          coalesce(sum(n) FILTER (WHERE priority = 'medium'), 0) AS medium,
          coalesce(sum(n) FILTER (WHERE priority = 'high'), 0) AS high,
          (SELECT count(*) FROM tasks WHERE created_at >= now() - interval '7 days') AS created_7d,
          (SELECT count(*) FROM tasks WHERE completed_at >= now() - interval '7 days') AS completed_7d
        FROM task_counts`);
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
