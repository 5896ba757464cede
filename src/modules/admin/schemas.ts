import { type Static, Type } from 'typebox';
import { TASK_PRIORITIES, TASK_STATUSES } from '../../db/enums.js';
import { Count as CountOf } from '../../lib/schemas.js';

const Count = CountOf();
/** A count per value of an enum list, keyed by the value. */
const CountPer = <const T extends readonly string[]>(values: T) =>
  Type.Object(Object.fromEntries(values.map((value) => [value, Count])) as { [K in T[number]]: typeof Count });

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
    tasks_by_status: CountPer(TASK_STATUSES),
    tasks_by_priority: CountPer(TASK_PRIORITIES),
    tasks_created_last_7_days: Count,
    tasks_completed_last_7_days: CountOf({
      description: 'Tasks that became completed in the last 7 days and still are',
    }),
    overdue_tasks: CountOf({
      description: 'Tasks past their due date (due_at before now) that are not completed',
      examples: [3],
    }),
    total_projects: CountOf({
      description: 'Projects, of every user',
      examples: [12],
    }),
  },
  { title: 'Stats', additionalProperties: false },
);
export type Stats = Static<typeof Stats>;
