import { type SQL, sql } from 'drizzle-orm';
import { TASK_PRIORITIES, TASK_STATUSES } from '../../db/enums.js';
import type { Database } from '../../db/pool.js';
import type { Stats } from './schemas.js';

type Column = 'status' | 'priority';
const alias = (column: Column, value: string) => `${column}_${value}`;

/** One sum per value of the column's enum, named <column>_<value>. */
const sumsBy = (column: Column, values: readonly string[]): SQL[] =>
  values.map(
    (value) =>
      sql`coalesce(sum(n) FILTER (WHERE ${sql.identifier(column)} = ${value}), 0) AS ${sql.identifier(alias(column, value))}`,
  );

/** The sums of one column as an object keyed by the enum's values. */
const countsBy = <const T extends readonly string[]>(row: Record<string, unknown>, column: Column, values: T) =>
  Object.fromEntries(values.map((value) => [value, Number(row[alias(column, value)])])) as Record<T[number], number>;

export function createAdminRepository(db: Database) {
  return {
    /** Every figure from one statement over the counters and three index ranges: no task row leaves the database. */
    async stats(): Promise<Stats> {
      // Counts come from task_counts (kept by triggers); the 7-day figures and the overdue count
      // (due before now, as the list's overdue filter) are index range scans.
      const { rows } = await db.execute<Record<string, unknown>>(sql`
        SELECT
          (SELECT count(*) FROM users) AS total_users,
          (SELECT count(*) FROM users WHERE is_active) AS active_users,
          (SELECT count(*) FROM projects) AS total_projects,
          coalesce(sum(n), 0) AS total_tasks,
          ${sql.join([...sumsBy('status', TASK_STATUSES), ...sumsBy('priority', TASK_PRIORITIES)], sql`, `)},
          (SELECT count(*) FROM tasks WHERE created_at >= now() - interval '7 days') AS created_7d,
          (SELECT count(*) FROM tasks WHERE completed_at >= now() - interval '7 days') AS completed_7d,
          (SELECT count(*) FROM tasks WHERE due_at < now() AND status <> 'completed') AS overdue
        FROM task_counts`);
      const r = rows[0] as Record<string, unknown>;
      const n = (v: unknown) => Number(v);
      const total = n(r.total_tasks);
      const byStatus = countsBy(r, 'status', TASK_STATUSES);
      const completed = byStatus.completed;
      return {
        total_users: n(r.total_users),
        active_users: n(r.active_users),
        total_tasks: total,
        completed_tasks: completed,
        completion_rate: total === 0 ? 0 : Math.round((completed / total) * 10_000) / 100,
        tasks_by_status: byStatus,
        tasks_by_priority: countsBy(r, 'priority', TASK_PRIORITIES),
        tasks_created_last_7_days: n(r.created_7d),
        tasks_completed_last_7_days: n(r.completed_7d),
        overdue_tasks: n(r.overdue),
        total_projects: n(r.total_projects),
      };
    },
  };
}

export type AdminRepository = ReturnType<typeof createAdminRepository>;
