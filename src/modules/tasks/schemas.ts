import { type Static, Type } from 'typebox';
import { TASK_PRIORITIES, TASK_STATUSES } from '../../db/enums.js';
import { cursorQuery } from '../../lib/cursor.js';
import { DATE_TIME_RULE, DateTimeInput } from '../../lib/date-time.js';
import { paginationQuery } from '../../lib/pagination.js';
import { OneOf, RowId, SAFE_TEXT, Timestamp, UNSTORABLE } from '../../lib/schemas.js';
import { WHITE_SPACE } from '../../lib/text.js';
import { LabelFilter, TaskLabels, TaskLabelsInput } from './labels/schemas.js';

export { TASK_PRIORITIES, TASK_STATUSES, type TaskPriority, type TaskStatus } from '../../db/enums.js';
export const TASK_SORT_KEYS = ['created_at', 'updated_at', 'priority', 'status', 'title', 'due_at'] as const;
export type TaskSortKey = (typeof TASK_SORT_KEYS)[number];
export type TaskSort = TaskSortKey | `-${TaskSortKey}`;
export const DEFAULT_SORT: TaskSort = '-created_at';

/** Longest title, counted after trimming; as sent it may carry surrounding white space up to TITLE_MAX_RAW. */
export const TITLE_MAX = 200;
const TITLE_MAX_RAW = 1000;

const Status = OneOf(TASK_STATUSES);
const Priority = OneOf(TASK_PRIORITIES);

export const Task = Type.Object(
  {
    id: RowId([42]),
    user_id: RowId([1]),
    title: Type.String({ maxLength: TITLE_MAX, pattern: SAFE_TEXT, examples: ['Write the quarterly report'] }),
    description: Type.Union([Type.String({ maxLength: 10_000, pattern: SAFE_TEXT }), Type.Null()]),
    status: Status,
    priority: Priority,
    due_at: Type.Union([Timestamp, Type.Null()], {
      description: 'When the task is due, in UTC; null when it has no due date',
      examples: ['2026-12-24T17:00:00.000Z'],
    }),
    project_id: Type.Union([RowId([7]), Type.Null()], {
      description: "The project the task is in; null when it is in none (then it is its creator's alone)",
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
    labels: TaskLabels,
  },
  { title: 'Task', additionalProperties: false },
);
export type Task = Static<typeof Task>;

// 1 to TITLE_MAX characters once surrounding white space is trimmed (the core starts and ends with another
// character), and safe text. Each quantifier is bounded or followed by a disjoint class: linear time.
const Title = Type.String({
  minLength: 1,
  maxLength: TITLE_MAX_RAW,
  pattern: `^[${WHITE_SPACE}]*[^${WHITE_SPACE}${UNSTORABLE}](?:[^${UNSTORABLE}]{0,${TITLE_MAX - 2}}[^${WHITE_SPACE}${UNSTORABLE}])?[${WHITE_SPACE}]*$`,
  description: `1 to ${TITLE_MAX} characters once surrounding white space is trimmed (at most ${TITLE_MAX_RAW} as sent); stored trimmed`,
  examples: ['Write the quarterly report'],
});
const DUE_AT = `When the task is due, or null for no due date. ${DATE_TIME_RULE}, and returned in UTC.`;
const DueAt = Type.Union(
  [
    DateTimeInput({
      description: 'The due date',
      examples: ['2026-12-24T18:00:00+01:00', '2026-12-24T17:00:00Z'],
    }),
    Type.Null(),
  ],
  { description: DUE_AT, examples: ['2026-12-24T18:00:00+01:00'] },
);
const PROJECT_ID =
  'The project to put the task in (you must be its owner or an editor), or null for none. A project you are not a member of, ' +
  'or that does not exist, is a 422; one you only view is a 403.';
const ProjectId = Type.Union([RowId([7]), Type.Null()], { description: PROJECT_ID });
const Description = Type.Union([Type.String({ maxLength: 10_000, pattern: SAFE_TEXT }), Type.Null()], {
  description: 'Up to 10,000 characters, or null',
  examples: ['Figures from finance first, then the summary'],
});

export const TaskCreateBody = Type.Object(
  {
    title: Title,
    description: Type.Optional({ ...Description, default: null }),
    status: Type.Optional({ ...Status, default: 'pending' }),
    priority: Type.Optional({ ...Priority, default: 'medium' }),
    due_at: Type.Optional({ ...DueAt, default: null }),
    labels: Type.Optional({ ...TaskLabelsInput, default: [] }),
    project_id: Type.Optional({ ...ProjectId, default: null }),
  },
  { title: 'TaskCreate', additionalProperties: false },
);
export type TaskCreate = Static<typeof TaskCreateBody>;

export const TaskUpdateBody = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    status: Type.Optional(Status),
    priority: Type.Optional(Priority),
    due_at: Type.Optional({ ...DueAt, description: `${DUE_AT} null removes the due date.` }),
    labels: Type.Optional(TaskLabelsInput),
    project_id: Type.Optional({
      ...ProjectId,
      description: `Moves the task. ${PROJECT_ID} Moving a task needs the right to change it where it is and, into a project, the right to edit there; null moves it out (it becomes its creator's alone).`,
    }),
  },
  {
    title: 'TaskUpdate',
    additionalProperties: false,
    minProperties: 1,
    description: 'The fields to change (at least one); the others are kept',
  },
);
export type TaskUpdate = Static<typeof TaskUpdateBody>;

const listOf = (values: readonly string[]) => `^(${values.join('|')})(,(${values.join('|')}))*$`;

export const TaskListQuery = Type.Object(
  {
    status: Type.Optional(
      Type.String({ maxLength: 100, pattern: listOf(TASK_STATUSES), description: 'One status or several, comma-separated' }),
    ),
    priority: Type.Optional(
      Type.String({ maxLength: 100, pattern: listOf(TASK_PRIORITIES), description: 'One priority or several, comma-separated' }),
    ),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: SAFE_TEXT,
        description: 'Case-insensitive text in the title, the description or a label',
      }),
    ),
    due_after: Type.Optional(
      DateTimeInput({
        description: 'Tasks due at or after this instant (inclusive); tasks without a due date never match',
        examples: ['2026-12-01T00:00:00Z'],
      }),
    ),
    due_before: Type.Optional(
      DateTimeInput({
        description: 'Tasks due strictly before this instant (exclusive); tasks without a due date never match',
        examples: ['2027-01-01T00:00:00+01:00'],
      }),
    ),
    overdue: Type.Optional(
      Type.Boolean({
        description:
          'true: tasks whose due date has passed (due_at before now) and that are not completed; false: every other task',
        examples: [true],
      }),
    ),
    has_due: Type.Optional(
      Type.Boolean({ description: 'true: tasks with a due date; false: tasks without one', examples: [false] }),
    ),
    label: Type.Optional(LabelFilter),
    project_id: Type.Optional(
      Type.String({
        maxLength: 15,
        pattern: '^(none|[1-9][0-9]{0,14})$',
        description:
          "The tasks of one project (its id), or none: the tasks in no project. A project you are not a member of (or that does not exist) lists nothing. Without it: every task you can see, your own and your projects'.",
        examples: ['7', 'none'],
      }),
    ),
    sort: Type.Optional(
      Type.Unsafe<TaskSort>({
        type: 'string',
        enum: TASK_SORT_KEYS.flatMap((k) => [k, `-${k}`]),
        default: DEFAULT_SORT,
        description:
          'Sort key; a leading - sorts descending. Ties are broken by id. Tasks without a due date come last in both directions of due_at.',
      }),
    ),
    user_id: Type.Optional(
      Type.Integer({
        format: 'int64',
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'The tasks one user created; users may name only themselves, admins anyone',
      }),
    ),
    ...paginationQuery,
    ...cursorQuery,
  },
  { additionalProperties: false },
);
export type TaskListQuery = Static<typeof TaskListQuery>;

export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7E]+$',
      description: 'Any client-chosen string (1 to 255 visible ASCII characters), unique per intended create',
    }),
  ),
});

export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ maxLength: 1024, description: 'The ETag of the task as last read, or *' })),
});
