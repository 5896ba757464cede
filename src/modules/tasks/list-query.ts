import { and, asc, Column, desc, eq, ilike, is, isNotNull, isNull, not, or, type Placeholder, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { labels, taskCounts, taskLabels, tasks } from '../../db/schema.js';
import { memberProjects, ownTasks, projectTasks } from './access.js';
import { taskColumns, taskFields } from './columns.js';
import { TASK_SORT_KEYS, type TaskPriority, type TaskSortKey, type TaskStatus } from './schemas.js';

// The list of tasks: its filters, its orders and its keyset, as one statement per shape of filter.
/** A sort key is a task field's name: its column. */
const sortColumns = Object.fromEntries(TASK_SORT_KEYS.map((key) => [key, taskColumns[key]])) as {
  [K in TaskSortKey]: (typeof taskColumns)[K];
};

/** Whose view of the tasks: a user's (their own and their projects', access.ts), or (undefined: an admin's) everyone's. */
export interface Scope {
  viewerId?: number | undefined;
}

export interface TaskFilter extends Scope {
  /** The tasks one user created (user_id). */
  userId?: number | undefined;
  /** The tasks of one project, or of none ('none'). */
  project?: number | 'none' | undefined;
  statuses?: TaskStatus[] | undefined;
  priorities?: TaskPriority[] | undefined;
  q?: string | undefined;
  /** Instants in UTC (ISO 8601): due_at >= dueAfter, due_at < dueBefore. */
  dueAfter?: string | undefined;
  dueBefore?: string | undefined;
  overdue?: boolean | undefined;
  hasDue?: boolean | undefined;
  /** Labels a task must all carry (any case). */
  labels?: string[] | undefined;
  sort: TaskSortKey;
  descending: boolean;
  limit: number;
  offset: number;
  /** Keyset paging (a cursor request): `after` is where the previous page ended (absent: the first page). */
  keyset?: { after?: KeysetPosition | undefined } | undefined;
}

/** The last row of a page under its sort: the sort column's value as PostgreSQL writes it (text, exact) and the id. */
export interface KeysetPosition {
  value: string | null;
  id: number;
}

/** Past its due date and not completed; now() is the statement's (its transaction's) time. */
const OVERDUE = sql`(${tasks.dueAt} < now() AND ${tasks.status} <> 'completed')`;

/** A sort key's order: a nullable column (due_at) puts its nulls last in both directions. */
const orderOf = (key: TaskSortKey, descending: boolean): SQL => {
  const column = sortColumns[key];
  if (column.notNull) return (descending ? desc : asc)(column);
  return descending ? sql`${column} DESC NULLS LAST` : sql`${column} ASC NULLS LAST`;
};

/**
 * The rows after `(value, id)` in the list's order (sort column, then id, the same direction). A
 * nullable column (due_at) has its nulls last both ways: after a value come the later values and
 * then every null; after a null, only the nulls with a later id.
 */
const keysetAfter = (key: TaskSortKey, descending: boolean, afterNull: boolean): SQL => {
  const column = sortColumns[key];
  const id = sql.placeholder('afterId');
  if (afterNull)
    return descending ? sql`(${column} IS NULL AND ${tasks.id} < ${id})` : sql`(${column} IS NULL AND ${tasks.id} > ${id})`;
  // The value comes back as the text the page's cursor_value gave: cast to the column's own type.
  const value = sql`CAST(${sql.placeholder('afterValue')} AS ${sql.raw(column.getSQLType())})`;
  const after = descending
    ? sql`(${column}, ${tasks.id}) < (${value}, ${id})`
    : sql`(${column}, ${tasks.id}) > (${value}, ${id})`;
  return column.notNull ? after : sql`(${after} OR ${column} IS NULL)`;
};

/**
 * q: the pattern in the title, the description or one of the task's label names. Across every user
 * (an admin's search) as a union of three index searches (pg_trgm GIN indexes on each searched
 * column; an OR with a label's EXISTS would make it a scan of the tasks); within one user's tasks,
 * which that user's index already narrows, the same test row by row.
 */
const textSearch = (acrossUsers: boolean, pattern: ReturnType<typeof sql.placeholder>): SQL =>
  acrossUsers
    ? sql`${tasks.id} IN (SELECT t.id FROM ${tasks} t WHERE t.title ILIKE ${pattern}
        UNION ALL SELECT t.id FROM ${tasks} t WHERE t.description ILIKE ${pattern}
        UNION ALL SELECT tl.task_id FROM ${labels} l JOIN ${taskLabels} tl ON tl.label_id = l.id WHERE l.name ILIKE ${pattern})`
    : (or(
        ilike(tasks.title, pattern),
        ilike(tasks.description, pattern),
        sql`EXISTS (SELECT 1 FROM ${taskLabels} tl JOIN ${labels} l ON l.id = tl.label_id
          WHERE tl.task_id = ${tasks.id} AND l.name ILIKE ${pattern})`,
      ) as SQL);

/**
 * Which tasks a list may show, and which counter rows total them. An admin sees the table (narrowed to
 * a project, or to none, by a condition). A user sees two disjoint parts (access.ts): their own tasks
 * outside projects, and their projects' tasks. Asked for both, no one index serves their OR, so the
 * list reads the two `parts` apart (listQuery), each an index range of its own; the counters likewise
 * sum the two parts' rows.
 */
function visibleRows(
  filter: TaskFilter,
  viewer: Placeholder,
  projectId: Placeholder,
): { visible?: SQL; parts?: [SQL, SQL]; counters: Array<SQL | undefined> } {
  const inProject = sql`${taskCounts.projectId} <> 0`;
  const ownCounters = sql`${taskCounts.userId} = ${viewer} AND ${taskCounts.projectId} = 0`;
  const projectCounters = sql`${inProject} AND ${taskCounts.projectId} IN (${memberProjects(viewer)})`;
  if (filter.viewerId === undefined) {
    if (filter.project === undefined) return { counters: [undefined] };
    if (filter.project === 'none') return { visible: isNull(tasks.projectId), counters: [eq(taskCounts.projectId, 0)] };
    return {
      visible: sql`${tasks.projectId} = ${projectId}`,
      counters: [sql`${inProject} AND ${taskCounts.projectId} = ${projectId}`],
    };
  }
  if (filter.project === 'none') return { visible: ownTasks(viewer), counters: [ownCounters] };
  if (filter.project !== undefined) {
    return {
      visible: sql`${tasks.projectId} = ${projectId} AND ${projectTasks(viewer)}`,
      counters: [sql`${projectCounters} AND ${taskCounts.projectId} = ${projectId}`],
    };
  }
  return { parts: [ownTasks(viewer), projectTasks(viewer)], counters: [ownCounters, projectCounters] };
}

/**
 * Fields read from a subquery aliased as the table: Drizzle checks that a selected column's table is
 * in the query, which it cannot see through `FROM (…) AS tasks`, so each column is selected as the
 * same expression decoded as that column.
 */
const asExpressions = <T extends Record<string, unknown>>(fields: T): T =>
  Object.fromEntries(
    Object.entries(fields).map(([name, field]) => [name, is(field, Column) ? sql`${field}`.mapWith(field) : field]),
  ) as T;

const hasDueFilter = (filter: TaskFilter) =>
  filter.dueAfter !== undefined || filter.dueBefore !== undefined || filter.overdue !== undefined || filter.hasDue !== undefined;

/**
 * A list's statement for one shape of filter (placeholders for the values): offset paging, or keyset
 * paging without an offset. Exported for the test that EXPLAINs it (and for the repository).
 */
export function listQuery(db: Database, filter: TaskFilter) {
  const direction = filter.descending ? desc : asc;
  const pattern = sql.placeholder('pattern');
  const viewer = sql.placeholder('viewerId');
  const { visible, parts, counters } = visibleRows(filter, viewer, sql.placeholder('projectId'));
  // The total comes from the counters when the filters are ones they keep (creator, project, status,
  // priority), so a page costs the same however many tasks match; a text search, a label or a
  // due-date filter has to count its matches.
  const counterFilters = and(
    filter.userId === undefined ? undefined : eq(taskCounts.userId, sql.placeholder('userId')),
    filter.statuses ? sql`${taskCounts.status} = any(${sql.placeholder('statuses')})` : undefined,
    filter.priorities ? sql`${taskCounts.priority} = any(${sql.placeholder('priorities')})` : undefined,
  );
  const conditions = and(
    visible,
    filter.userId === undefined ? undefined : eq(tasks.userId, sql.placeholder('userId')),
    filter.statuses ? sql`${tasks.status} = any(${sql.placeholder('statuses')})` : undefined,
    filter.priorities ? sql`${tasks.priority} = any(${sql.placeholder('priorities')})` : undefined,
    filter.q === undefined ? undefined : textSearch(filter.viewerId === undefined && filter.userId === undefined, pattern),
    // Every label named: the tasks that carry as many of the named labels as there are distinct names.
    filter.labels
      ? sql`${tasks.id} IN (SELECT tl.task_id FROM ${labels} l JOIN ${taskLabels} tl ON tl.label_id = l.id
          WHERE l.user_id = ${tasks.userId}
            AND lower(l.name) IN (SELECT lower(n) FROM unnest(${sql.placeholder('labels')}::text[]) AS n)
          GROUP BY tl.task_id
          HAVING count(*) = (SELECT count(DISTINCT lower(n)) FROM unnest(${sql.placeholder('labels')}::text[]) AS n))`
      : undefined,
    filter.dueAfter === undefined ? undefined : sql`${tasks.dueAt} >= ${sql.placeholder('dueAfter')}::timestamptz`,
    filter.dueBefore === undefined ? undefined : sql`${tasks.dueAt} < ${sql.placeholder('dueBefore')}::timestamptz`,
    // Not overdue: no due date, not yet due, or completed.
    filter.overdue === undefined ? undefined : filter.overdue ? OVERDUE : not(sql`coalesce(${OVERDUE}, false)`),
    filter.hasDue === undefined ? undefined : filter.hasDue ? isNotNull(tasks.dueAt) : isNull(tasks.dueAt),
  );
  const counted = filter.q === undefined && !hasDueFilter(filter) && filter.labels === undefined;
  const after = filter.keyset?.after;
  const onPage = and(conditions, after ? keysetAfter(filter.sort, filter.descending, after.value === null) : undefined);
  const order = [orderOf(filter.sort, filter.descending), direction(tasks.id)];
  const limit = sql.placeholder('limit');
  const offset = sql.placeholder('offset');
  // A user's two parts: each part's own first rows of the page, in the page's order (an index range
  // read only as far as the page needs), then the page from those, in a subquery aliased as the table
  // so the order and the fields below apply unchanged.
  const reach = filter.keyset ? limit : sql`CAST(${limit} AS bigint) + CAST(${offset} AS bigint)`;
  const from = parts
    ? sql`(${sql.join(
        parts.map(
          (part) => sql`(SELECT * FROM ${tasks} WHERE ${and(part, onPage)} ORDER BY ${sql.join(order, sql`, `)} LIMIT ${reach})`,
        ),
        sql` UNION ALL `,
      )}) AS ${tasks}`
    : tasks;
  const matches = parts
    ? sql`(SELECT count(*) FROM (${sql.join(
        parts.map((part) => sql`SELECT 1 FROM ${tasks} WHERE ${and(part, conditions)}`),
        sql` UNION ALL `,
      )}) AS matching)`
    : sql`(SELECT count(*) FROM ${tasks} WHERE ${conditions ?? sql`true`})`;
  // Labels have no counters either: with a label filter the page counts its matches too. A keyset
  // page's rows are only those after the cursor (and a user's parts are cut to the page), so it
  // counts the filters' matches apart (once, an InitPlan).
  const total = counted
    ? sql<number>`(${sql.join(
        counters.map(
          (part) =>
            sql`(SELECT coalesce(sum(${taskCounts.n}), 0) FROM ${taskCounts} WHERE ${and(part, counterFilters) ?? sql`true`})`,
        ),
        sql` + `,
      )})`
    : filter.keyset || parts
      ? sql<number>`${matches}`
      : sql<number>`count(*) over ()`;
  const fields = {
    ...taskFields,
    total: total.mapWith(Number),
    // What the next page's cursor carries: the sort value as text, exact to the microsecond.
    ...(filter.keyset ? { cursorValue: sql<string | null>`${sortColumns[filter.sort]}::text` } : {}),
  };
  const query = parts
    ? db
        .select(asExpressions(fields))
        .from(from)
        .orderBy(...order)
        .limit(limit)
    : db
        .select(fields)
        .from(tasks)
        .where(onPage)
        .orderBy(...order)
        .limit(limit);
  return filter.keyset ? query : query.offset(offset);
}
