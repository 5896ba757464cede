import { type Static, Type } from 'typebox';

const Count = Type.Integer({ format: 'int64', minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const Stats = Type.Object(
  {
    total_users: Count,
    active_users: Count,
    total_tasks: Count,
    completed_tasks: Count,
    completion_rate: Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'completed_tasks / total_tasks as a percentage, rounded to 2 decimals; 0 when there are no tasks',
      examples: [37.5],
    }),
    tasks_by_status: Type.Object({ pending: Count, in_progress: Count, completed: Count }),
    tasks_by_priority: Type.Object({ low: Count, medium: Count, high: Count }),
    tasks_created_last_7_days: Count,
    tasks_completed_last_7_days: Type.Integer({
      format: 'int64',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Tasks that became completed in the last 7 days and still are',
    }),
  },
  { title: 'Stats', additionalProperties: false },
);
export type Stats = Static<typeof Stats>;
