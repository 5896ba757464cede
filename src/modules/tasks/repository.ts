import { and, eq, type SQL, sql } from 'drizzle-orm';
import { PROJECT_EDITING_ROLES, type ProjectRole } from '../../db/enums.js';
import type { Database, Executor } from '../../db/pool.js';
import { executePrepared } from '../../db/prepared.js';
import { idempotencyKeys, projectMembers, projects, tasks } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import type { Actor } from '../events/events.js';
import type { Work } from '../events/unit-of-work.js';
import { editableBy, editableProjects, visibleTo } from './access.js';
import { columnOf, fromDriver, recordFields, returnedColumns, returnedRecord, taskColumns } from './columns.js';
import { taskOutbox } from './events.js';
import { setTaskLabels } from './labels/repository.js';
import { type KeysetPosition, listQuery, type Scope, type TaskFilter } from './list-query.js';
import { type Task, type TaskCreate, TaskCreateBody, type TaskUpdate, TaskUpdateBody } from './schemas.js';

/** A value sent, or the column's default when the field was left out. */
const valueOr = (value: unknown, fallback: SQL): SQL => (value === undefined ? fallback : sql`${value}`);

/** A task and its version (the ETag), which the API body does not show. */
export type TaskRecord = Task & { version: number };

/**
 * Why a write changed nothing: no task the caller can see (404), one they may not change (403),
 * another version than If-Match named (412), or a project it may not move into.
 */
export type Refusal = 'not_found' | 'forbidden' | 'stale' | 'project_refused';

export type IdempotentCreate =
  | { kind: 'created'; task: TaskRecord }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_progress' };

/** The task's row, if the caller may change it, for the hand-written writes below. */
const editable = (id: number, scope: Scope): SQL =>
  scope.viewerId === undefined ? sql`${tasks.id} = ${id}` : sql`${tasks.id} = ${id} AND ${editableBy(scope.viewerId)}`;

/**
 * A move into project `target` (undefined: no move into a project) is allowed: the caller edits in
 * that project, or (an admin) it exists. Checked in the write's own statement.
 */
const mayMoveInto = (target: number | null | undefined, scope: Scope): SQL =>
  target === undefined || target === null
    ? sql``
    : scope.viewerId === undefined
      ? sql` AND EXISTS (SELECT 1 FROM ${projects} WHERE id = ${target})`
      : sql` AND ${target}::bigint IN (${editableProjects(scope.viewerId)})`;

/** What the caller may do with a task that exists: see it (else it is a 404), change it (else a 403). */
export interface TaskAccess {
  version: number;
  visible: boolean;
  editable: boolean;
}

/** What a caller may do in a project: edit its tasks, only read them, or nothing (not a member, or no such project). */
export type ProjectAccess = 'edit' | 'read' | 'none';

/** What the writes return: a TaskRecord's columns, under the API's names (RETURNING), then with its labels (the final SELECT). */
const RETURNED = returnedColumns();
const RETURNED_QUALIFIED = returnedColumns('tasks');
const RECORD = returnedRecord('changed');
/** The fields a create or an update may set: the body's fields that are columns of the task (the API's names are theirs). */
const settable = (body: { properties: object }) => Object.keys(body.properties).filter((field) => field in taskColumns);
const CREATABLE = settable(TaskCreateBody);
const UPDATABLE = new Set(settable(TaskUpdateBody));

export function createTasksRepository(db: Database) {
  // The hot reads are prepared statements: SQL built once, planned once per connection.
  const byIdStatements = {
    visible: db
      .select(recordFields)
      .from(tasks)
      .where(and(eq(tasks.id, sql.placeholder('id')), visibleTo(sql.placeholder('viewerId'))))
      .prepare('tasks_by_id_visible'),
    any: db
      .select(recordFields)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder('id')))
      .prepare('tasks_by_id_any'),
  };
  const findRecord = async (id: number, scope: Scope): Promise<TaskRecord | undefined> => {
    const [task] =
      scope.viewerId === undefined
        ? await byIdStatements.any.execute({ id })
        : await byIdStatements.visible.execute({ id, viewerId: scope.viewerId });
    return task;
  };

  /** What the caller may do with a task: undefined when they cannot see it (or there is none). */
  const accessTo = async (work: Work, id: number, scope: Scope): Promise<TaskAccess | undefined> => {
    const viewer = scope.viewerId;
    const { rows } = await executePrepared<TaskAccess>(
      work.db,
      viewer === undefined
        ? sql`SELECT version, true AS visible, true AS editable FROM ${tasks} WHERE id = ${id}`
        : sql`SELECT version, ${visibleTo(viewer)} AS visible, ${editableBy(viewer)} AS editable FROM ${tasks} WHERE id = ${id}`,
    );
    const [found] = rows;
    return found?.visible ? found : undefined;
  };

  /** Why a write whose statement found no task changed nothing (read after it, in its unit of work). */
  const refusal = async (work: Work, id: number, scope: Scope, version: number | undefined): Promise<Refusal> => {
    const access = await accessTo(work, id, scope);
    if (!access) return 'not_found';
    if (!access.editable) return 'forbidden';
    if (version !== undefined && access.version !== version) return 'stale';
    // Found and changeable at that version: what refused it was the project it was to move into.
    return 'project_refused';
  };

  // One prepared statement per shape of list (which filters are present, which sort), made on first use.
  const listStatements = new Map<string, ReturnType<typeof prepareList>>();
  const prepareList = (filter: TaskFilter, name: string) => listQuery(db, filter).prepare(name);
  const listStatement = (filter: TaskFilter) => {
    // The name is the shape itself, so every repository instance names the same SQL alike.
    const flags = [
      filter.viewerId !== undefined,
      filter.userId !== undefined,
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
    const project = filter.project === undefined ? 'x' : filter.project === 'none' ? 'n' : 'p';
    const shape = `tasks_list_${flags}${project}_${due}_${keyset}_${filter.sort}_${filter.descending ? 'desc' : 'asc'}`;
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
        viewerId: filter.viewerId,
        userId: filter.userId,
        projectId: typeof filter.project === 'number' ? filter.project : undefined,
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
          // Past the last page: the total from the same filters' offset statement, on its first row.
          const [first] = await listStatement({ ...filter, keyset: undefined }).execute({ ...values, limit: 1, offset: 0 });
          return { items: [], total: first?.total ?? 0 };
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
     * list alone moves the version on, so it too is a change, with its event. Only a task the caller
     * may change is found, and a move into a project only where the caller may edit (access.ts).
     */
    async update(
      work: Work,
      id: number,
      scope: Scope,
      changes: TaskUpdate,
      version: number | undefined,
      actor: Actor,
    ): Promise<TaskRecord | Refusal> {
      const assignments = Object.entries(changes)
        .filter(([field, value]) => value !== undefined && UPDATABLE.has(field))
        .map(([field, value]) => sql`${sql.identifier(columnOf(field))} = ${value}`);
      const found = sql`${editable(id, scope)}${mayMoveInto(changes.project_id, scope)}`;
      if (changes.labels !== undefined) {
        const { rows } = await executePrepared<{ user_id: number }>(
          work.db,
          sql`SELECT user_id FROM ${tasks}
            WHERE ${found}${version === undefined ? sql`` : sql` AND version = ${version}`} FOR UPDATE`,
        );
        const [locked] = rows;
        if (!locked) return refusal(work, id, scope, version);
        // The owner's vocabulary, whoever edits the task.
        if (await setTaskLabels(work, id, locked.user_id, changes.labels)) assignments.push(sql`version = ${tasks}.version + 1`);
      }
      const [task] = await records(
        work,
        sql`WITH before AS (
          SELECT id, version FROM ${tasks} WHERE ${found} FOR UPDATE
        ), changed AS (
          UPDATE ${tasks} SET ${assignments.length > 0 ? sql.join(assignments, sql`, `) : sql`title = ${tasks}.title`}
          FROM before
          WHERE ${tasks}.id = before.id${version === undefined ? sql`` : sql` AND ${tasks}.version = ${version}`}
          RETURNING ${RETURNED_QUALIFIED}, before.version AS version_before
        ), ${work.outbox({ ...taskOutbox('task.updated', actor), where: sql`changed.version <> changed.version_before` })}
        SELECT ${RECORD} FROM changed`,
      );
      return task ?? refusal(work, id, scope, version);
    },

    /** The deletion and its event (the task's last state), one statement. */
    async delete(work: Work, id: number, scope: Scope, version: number | undefined, actor: Actor): Promise<true | Refusal> {
      const [deleted] = await records(
        work,
        sql`WITH changed AS (
          DELETE FROM ${tasks}
          WHERE ${editable(id, scope)}${version === undefined ? sql`` : sql` AND version = ${version}`}
          RETURNING ${RETURNED}
        ), ${work.outbox(taskOutbox('task.deleted', actor))}
        SELECT id FROM changed`,
      );
      return deleted ? true : refusal(work, id, scope, version);
    },

    /** What the caller may do in a project (a create or a move into it is allowed with 'edit'). */
    async projectAccess(projectId: number, scope: Scope, executor: Executor = db): Promise<ProjectAccess> {
      if (scope.viewerId === undefined) {
        const { rows } = await executePrepared(executor, sql`SELECT 1 FROM ${projects} WHERE id = ${projectId}`);
        return rows.length > 0 ? 'edit' : 'none';
      }
      const { rows } = await executePrepared<{ role: ProjectRole }>(
        executor,
        sql`SELECT role FROM ${projectMembers} WHERE project_id = ${projectId} AND user_id = ${scope.viewerId}`,
      );
      const role = rows[0]?.role;
      return role === undefined ? 'none' : (PROJECT_EDITING_ROLES as readonly ProjectRole[]).includes(role) ? 'edit' : 'read';
    },

    /** How many tasks a project has (in the transaction that holds the project's lock). */
    async countInProject(work: Work, projectId: number): Promise<number> {
      const { rows } = await executePrepared<{ n: number }>(
        work.db,
        sql`SELECT count(*)::int AS n FROM ${tasks} WHERE project_id = ${projectId}`,
      );
      return rows[0]?.n ?? 0;
    },

    /** Deletes every task of a project, each with its task.deleted event, in one statement; how many went. */
    async deleteInProject(work: Work, projectId: number, actor: Actor): Promise<number> {
      const { rows } = await executePrepared<{ n: number }>(
        work.db,
        sql`WITH changed AS (
          DELETE FROM ${tasks} WHERE project_id = ${projectId} RETURNING ${RETURNED}
        ), ${work.outbox(taskOutbox('task.deleted', actor))}
        SELECT count(*)::int AS n FROM changed`,
      );
      return rows[0]?.n ?? 0;
    },

    /** Drops stored Idempotency-Key responses older than 24 hours. */
    async pruneIdempotencyKeys(): Promise<number> {
      const result = await db.delete(idempotencyKeys).where(sql`${idempotencyKeys.createdAt} < now() - interval '24 hours'`);
      return result.rowCount ?? 0;
    },
  };
}

export type TasksRepository = ReturnType<typeof createTasksRepository>;
export type { KeysetPosition, Scope, TaskFilter } from './list-query.js';
