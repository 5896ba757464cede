import { and, asc, desc, eq, ilike, isNotNull, isNull, not, or, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { executePrepared } from '../../db/prepared.js';
import { idempotencyKeys, labels, taskCounts, taskLabels, tasks } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import type { Actor } from '../events/events.js';
import type { Work } from '../events/unit-of-work.js';
import { columnOf, fromDriver, recordFields, returnedColumns, returnedRecord, taskColumns, taskFields } from './columns.js';
import { taskOutbox } from './events.js';
import { setTaskLabels } from './labels/repository.js';
import {
  TASK_SORT_KEYS,
  type Task,
  type TaskCreate,
  TaskCreateBody,
  type TaskPriority,
  type TaskSortKey,
  type TaskStatus,
  type TaskUpdate,
  TaskUpdateBody,
} from './schemas.js';

/** A value sent, or the column's default when the field was left out. */
const valueOr = (value: unknown, fallback: SQL): SQL => (value === undefined ? fallback : sql`${value}`);

/** A task and its version (the ETag), which the API body does not show. */
export type TaskRecord = Task & { version: number };

export type IdempotentCreate =
  | { kind: 'created'; task: TaskRecord }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_progress' };

/** A sort key is a task field's name: its column. */
const sortColumns = Object.fromEntries(TASK_SORT_KEYS.map((key) => [key, taskColumns[key]])) as {
  [K in TaskSortKey]: (typeof taskColumns)[K];
};

/** Which tasks a caller may touch: one owner's, or (admins) everyone's. */
export interface Scope {
  ownerId?: number | undefined;
}

export interface TaskFilter extends Scope {
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

/** The task's row, within the caller's scope, for the hand-written statements below (unqualified columns). */
const scoped = (id: number, scope: Scope): SQL =>
  scope.ownerId === undefined ? sql`id = ${id}` : sql`id = ${id} AND user_id = ${scope.ownerId}`;

/** What the writes return: a TaskRecord's columns, under the API's names (RETURNING), then with its labels (the final SELECT). */
const RETURNED = returnedColumns();
const RETURNED_QUALIFIED = returnedColumns('tasks');
const RECORD = returnedRecord('changed');
/** The fields a create or an update may set: the body's fields that are columns of the task (the API's names are theirs). */
const settable = (body: { properties: object }) => Object.keys(body.properties).filter((field) => field in taskColumns);
const CREATABLE = settable(TaskCreateBody);
const UPDATABLE = new Set(settable(TaskUpdateBody));

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

const hasDueFilter = (filter: TaskFilter) =>
  filter.dueAfter !== undefined || filter.dueBefore !== undefined || filter.overdue !== undefined || filter.hasDue !== undefined;

/**
 * A list's statement for one shape of filter (placeholders for the values): offset paging, or keyset
 * paging without an offset. Exported for the test that EXPLAINs it.
 */
export function listQuery(db: Database, filter: TaskFilter) {
  const direction = filter.descending ? desc : asc;
  const pattern = sql.placeholder('pattern');
  // The total comes from the counters when the filters are ones they keep (owner, status, priority),
  // so a page costs the same however many tasks match; a text search or a due-date filter has to
  // count its matches.
  const countedTotal = and(
    filter.ownerId === undefined ? undefined : eq(taskCounts.userId, sql.placeholder('ownerId')),
    filter.statuses ? sql`${taskCounts.status} = any(${sql.placeholder('statuses')})` : undefined,
    filter.priorities ? sql`${taskCounts.priority} = any(${sql.placeholder('priorities')})` : undefined,
  );
  const conditions = and(
    filter.ownerId === undefined ? undefined : eq(tasks.userId, sql.placeholder('ownerId')),
    filter.statuses ? sql`${tasks.status} = any(${sql.placeholder('statuses')})` : undefined,
    filter.priorities ? sql`${tasks.priority} = any(${sql.placeholder('priorities')})` : undefined,
    filter.q === undefined ? undefined : textSearch(filter.ownerId === undefined, pattern),
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
  // Labels have no counters either: with a label filter the page counts its matches too. A keyset
  // page's rows are only those after the cursor, so it counts the filters' matches apart (once, an InitPlan).
  const total = counted
    ? sql<number>`(SELECT coalesce(sum(${taskCounts.n}), 0) FROM ${taskCounts} WHERE ${countedTotal ?? sql`true`})`
    : filter.keyset
      ? sql<number>`(SELECT count(*) FROM ${tasks} WHERE ${conditions ?? sql`true`})`
      : sql<number>`count(*) over ()`;
  const fields = {
    ...taskFields,
    total: total.mapWith(Number),
    // What the next page's cursor carries: the sort value as text, exact to the microsecond.
    ...(filter.keyset ? { cursorValue: sql<string | null>`${sortColumns[filter.sort]}::text` } : {}),
  };
  const query = db
    .select(fields)
    .from(tasks)
    .where(and(conditions, after ? keysetAfter(filter.sort, filter.descending, after.value === null) : undefined))
    .orderBy(orderOf(filter.sort, filter.descending), direction(tasks.id))
    .limit(sql.placeholder('limit'));
  return filter.keyset ? query : query.offset(sql.placeholder('offset'));
}

export function createTasksRepository(db: Database) {
  // The hot reads are prepared statements: SQL built once, planned once per connection.
  const byIdStatements = {
    owned: db
      .select(recordFields)
      .from(tasks)
      .where(and(eq(tasks.id, sql.placeholder('id')), eq(tasks.userId, sql.placeholder('ownerId'))))
      .prepare('tasks_by_id_owned'),
    any: db
      .select(recordFields)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder('id')))
      .prepare('tasks_by_id_any'),
  };
  const findRecord = async (id: number, scope: Scope): Promise<TaskRecord | undefined> => {
    const [task] =
      scope.ownerId === undefined
        ? await byIdStatements.any.execute({ id })
        : await byIdStatements.owned.execute({ id, ownerId: scope.ownerId });
    return task;
  };

  // One prepared statement per shape of list (which filters are present, which sort), made on first use.
  const listStatements = new Map<string, ReturnType<typeof prepareList>>();
  const prepareList = (filter: TaskFilter, name: string) => listQuery(db, filter).prepare(name);
  const listStatement = (filter: TaskFilter) => {
    // The name is the shape itself, so every repository instance names the same SQL alike.
    const flags = [
      filter.ownerId !== undefined,
      !!filter.statuses,
      !!filter.priorities,
      filter.q !== undefined,
      filter.labels !== undefined,
    ]
      .map(Number)
      .join('');
    // Each due-date filter: absent (x), or its value where the value shapes the SQL (overdue, has_due).
    const due = [
      filter.dueAfter === undefined ? 'x' : 'a',
      filter.dueBefore === undefined ? 'x' : 'b',
      filter.overdue === undefined ? 'x' : Number(filter.overdue),
      filter.hasDue === undefined ? 'x' : Number(filter.hasDue),
    ].join('');
    // Keyset: absent (o, offset paging), a first page (k), after a value (v) or after a null (n).
    const after = filter.keyset?.after;
    const keyset = !filter.keyset ? 'o' : !after ? 'k' : after.value === null ? 'n' : 'v';
    const shape = `tasks_list_${flags}_${due}_${keyset}_${filter.sort}_${filter.descending ? 'desc' : 'asc'}`;
    let statement = listStatements.get(shape);
    if (!statement) {
      statement = prepareList(filter, shape);
      listStatements.set(shape, statement);
    }
    return statement;
  };

  /** A hand-written statement's rows as TaskRecords: timestamps come raw, mapped as Drizzle maps its columns. */
  const records = async (work: Work, statement: SQL): Promise<TaskRecord[]> =>
    (await executePrepared<TaskRecord>(work.db, statement)).rows.map((row) => fromDriver<TaskRecord>(row));

  const insertedRow = (ownerId: number, input: TaskCreate): SQL =>
    sql`INSERT INTO ${tasks} (user_id, ${sql.raw(CREATABLE.map(columnOf).join(', '))})
        VALUES (${ownerId}, ${sql.join(
          CREATABLE.map((field) => valueOr(input[field as keyof TaskCreate], sql`DEFAULT`)),
          sql`, `,
        )})
        RETURNING ${RETURNED}`;

  /**
   * The insert and its task.created event. Without labels one statement (`work.db` may be a
   * transaction); with labels (in a unit of work's transaction) the task, its labels, then the
   * event, which reads the labels back.
   */
  const insertRecording = async (work: Work, ownerId: number, input: TaskCreate, actor: Actor): Promise<TaskRecord> => {
    if (!input.labels?.length) {
      const [task] = await records(
        work,
        sql`WITH changed AS (${insertedRow(ownerId, input)}), ${work.outbox(taskOutbox('task.created', actor))}
        SELECT ${RECORD} FROM changed`,
      );
      return task as TaskRecord;
    }
    const [inserted] = await records(work, insertedRow(ownerId, input));
    const id = (inserted as TaskRecord).id;
    await setTaskLabels(work, id, ownerId, input.labels);
    const [task] = await records(
      work,
      sql`WITH changed AS (SELECT ${RETURNED} FROM ${tasks} WHERE id = ${id}), ${work.outbox(taskOutbox('task.created', actor))}
      SELECT ${RECORD} FROM changed`,
    );
    return task as TaskRecord;
  };

  return {
    /** The task and its event commit together (one statement: see modules/events, outboxInsert). */
    insert: insertRecording,

    /**
     * Creates a task under an Idempotency-Key, atomically (run it in a unit of work's transaction):
     * the task and the stored response commit together, so a retry finds either nothing (and creates)
     * or the response (and replays it). A transaction-scoped advisory lock on (user, key) turns a
     * concurrent duplicate into 'in_progress'.
     */
    async insertIdempotent(
      work: Work,
      ownerId: number,
      input: TaskCreate,
      key: string,
      requestHash: Buffer,
      actor: Actor,
    ): Promise<IdempotentCreate> {
      const tx = work.db;
      const [lock] = await tx
        .execute<{ locked: boolean }>(
          sql`SELECT pg_try_advisory_xact_lock(hashtextextended(${`${ownerId}:${key}`}, 0)) AS locked`,
        )
        .then((r) => r.rows);
      if (!lock?.locked) return { kind: 'in_progress' } as const;
      const [stored] = await tx
        .select({
          requestHash: idempotencyKeys.requestHash,
          status: idempotencyKeys.responseStatus,
          body: idempotencyKeys.responseBody,
        })
        .from(idempotencyKeys)
        .where(
          and(
            eq(idempotencyKeys.userId, ownerId),
            eq(idempotencyKeys.key, key),
            sql`${idempotencyKeys.createdAt} > now() - interval '24 hours'`,
          ),
        );
      if (stored) {
        return stored.requestHash.equals(requestHash)
          ? ({ kind: 'replay', status: stored.status, body: stored.body } as const)
          : ({ kind: 'mismatch' } as const);
      }
      const record = await insertRecording(work, ownerId, input, actor);
      const { version: _, ...body } = record;
      const row = { requestHash, responseStatus: 201, responseBody: body, createdAt: sql`now()` };
      await tx
        .insert(idempotencyKeys)
        .values({ userId: ownerId, key, ...row })
        .onConflictDoUpdate({ target: [idempotencyKeys.userId, idempotencyKeys.key], set: row });
      return { kind: 'created', task: record } as const;
    },

    findById: findRecord,

    /**
     * One page and its total in one prepared statement (the total from the counters, or counted when
     * searching text). A keyset page reads one row more than it shows, to know whether a next page
     * exists, and gives where it ended (`last`).
     */
    async list(filter: TaskFilter): Promise<{ items: Task[]; total: number; last?: KeysetPosition | undefined }> {
      const statement = listStatement(filter);
      const values = {
        ownerId: filter.ownerId,
        statuses: filter.statuses,
        priorities: filter.priorities,
        pattern: filter.q === undefined ? undefined : likePattern(filter.q),
        dueAfter: filter.dueAfter,
        dueBefore: filter.dueBefore,
        labels: filter.labels,
      };
      if (filter.keyset) {
        const after = filter.keyset.after;
        const rows = await statement.execute({
          ...values,
          limit: filter.limit + 1,
          afterValue: after?.value ?? undefined,
          afterId: after?.id,
        });
        if (rows.length === 0) {
          // Past the last page: the total from the same filters' offset statement.
          const { total } = await this.list({ ...filter, keyset: undefined, limit: 1, offset: 0 });
          return { items: [], total };
        }
        const page = rows.slice(0, filter.limit);
        const end = page[page.length - 1];
        const items = page.map(({ total: _, cursorValue: __, ...task }) => task as Task);
        const last = rows.length > filter.limit && end ? { value: end.cursorValue ?? null, id: end.id } : undefined;
        return { items, total: rows[0]?.total ?? 0, last };
      }
      const rows = await statement.execute({ ...values, limit: filter.limit, offset: filter.offset });
      if (rows.length === 0 && filter.offset > 0) {
        // Past the last page the total has no row to ride on: ask the same statement for its first row.
        const [first] = await statement.execute({ ...values, limit: 1, offset: 0 });
        return { items: [], total: first?.total ?? 0 };
      }
      return { items: rows.map(({ total: _, ...task }) => task as Task), total: rows[0]?.total ?? 0 };
    },

    /**
     * Changes a task; with `version`, only if the task is still at that version (If-Match), decided
     * in the UPDATE itself so two writers with the same tag cannot both win. One statement with its
     * event: the row is locked and its version read first (`before`), so an update that changes
     * nothing (the version trigger leaves the version alone) records no event. With `labels` (in a
     * unit of work's transaction) the task is locked and its labels written first; a changed label
     * list alone moves the version on, so it too is a change, with its event.
     */
    async update(
      work: Work,
      id: number,
      scope: Scope,
      changes: TaskUpdate,
      version: number | undefined,
      actor: Actor,
    ): Promise<TaskRecord | 'stale' | undefined> {
      const assignments = Object.entries(changes)
        .filter(([field, value]) => value !== undefined && UPDATABLE.has(field))
        .map(([field, value]) => sql`${sql.identifier(columnOf(field))} = ${value}`);
      if (changes.labels !== undefined) {
        const { rows } = await executePrepared<{ user_id: number }>(
          work.db,
          sql`SELECT user_id FROM ${tasks}
            WHERE ${scoped(id, scope)}${version === undefined ? sql`` : sql` AND version = ${version}`} FOR UPDATE`,
        );
        const [locked] = rows;
        if (!locked) return version !== undefined && (await findRecord(id, scope)) ? 'stale' : undefined;
        // The owner's vocabulary, whoever edits the task.
        if (await setTaskLabels(work, id, locked.user_id, changes.labels)) assignments.push(sql`version = ${tasks}.version + 1`);
      }
      const [task] = await records(
        work,
        sql`WITH before AS (
          SELECT id, version FROM ${tasks} WHERE ${scoped(id, scope)} FOR UPDATE
        ), changed AS (
          UPDATE ${tasks} SET ${assignments.length > 0 ? sql.join(assignments, sql`, `) : sql`title = ${tasks}.title`}
          FROM before
          WHERE ${tasks}.id = before.id${version === undefined ? sql`` : sql` AND ${tasks}.version = ${version}`}
          RETURNING ${RETURNED_QUALIFIED}, before.version AS version_before
        ), ${work.outbox({ ...taskOutbox('task.updated', actor), where: sql`changed.version <> changed.version_before` })}
        SELECT ${RECORD} FROM changed`,
      );
      if (task || version === undefined) return task;
      return (await findRecord(id, scope)) ? 'stale' : undefined;
    },

    /** The deletion and its event (the task's last state), one statement. */
    async delete(work: Work, id: number, scope: Scope, version: number | undefined, actor: Actor): Promise<boolean | 'stale'> {
      const [deleted] = await records(
        work,
        sql`WITH changed AS (
          DELETE FROM ${tasks}
          WHERE ${scoped(id, scope)}${version === undefined ? sql`` : sql` AND version = ${version}`}
          RETURNING ${RETURNED}
        ), ${work.outbox(taskOutbox('task.deleted', actor))}
        SELECT id FROM changed`,
      );
      if (deleted || version === undefined) return deleted !== undefined;
      return (await findRecord(id, scope)) ? 'stale' : false;
    },

    /** Drops stored Idempotency-Key responses older than 24 hours. */
    async pruneIdempotencyKeys(): Promise<number> {
      const result = await db.delete(idempotencyKeys).where(sql`${idempotencyKeys.createdAt} < now() - interval '24 hours'`);
      return result.rowCount ?? 0;
    },
  };
}

export type TasksRepository = ReturnType<typeof createTasksRepository>;
