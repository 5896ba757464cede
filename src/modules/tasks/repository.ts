import { and, asc, desc, eq, ilike, or, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { idempotencyKeys, taskCounts, tasks } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import type { EventsOf } from '../events/events.js';
import { recordEvents } from '../events/repository.js';
import type { Task, TaskCreate, TaskPriority, TaskSortKey, TaskStatus, TaskUpdate } from './schemas.js';

/** Columns of a task as the API shows it. */
const taskColumns = {
  id: tasks.id,
  user_id: tasks.userId,
  title: tasks.title,
  description: tasks.description,
  status: tasks.status,
  priority: tasks.priority,
  created_at: tasks.createdAt,
  updated_at: tasks.updatedAt,
};

/** A task and its version (the ETag), which the API body does not show. */
export type TaskRecord = Task & { version: number };
const recordColumns = { ...taskColumns, version: tasks.version };

export type IdempotentCreate =
  | { kind: 'created'; task: TaskRecord }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'in_progress' };

const sortColumns = {
  created_at: tasks.createdAt,
  updated_at: tasks.updatedAt,
  priority: tasks.priority,
  status: tasks.status,
  title: tasks.title,
} as const;

/** Which tasks a caller may touch: one owner's, or (admins) everyone's. */
export interface Scope {
  ownerId?: number | undefined;
}

export interface TaskFilter extends Scope {
  statuses?: TaskStatus[] | undefined;
  priorities?: TaskPriority[] | undefined;
  q?: string | undefined;
  sort: TaskSortKey;
  descending: boolean;
  limit: number;
  offset: number;
}

const byId = (id: number, scope: Scope): SQL | undefined =>
  and(eq(tasks.id, id), scope.ownerId === undefined ? undefined : eq(tasks.userId, scope.ownerId));

export function createTasksRepository(db: Database) {
  // The hot reads are prepared statements: SQL built once, planned once per connection.
  const byIdStatements = {
    owned: db
      .select(recordColumns)
      .from(tasks)
      .where(and(eq(tasks.id, sql.placeholder('id')), eq(tasks.userId, sql.placeholder('ownerId'))))
      .prepare('tasks_by_id_owned'),
    any: db
      .select(recordColumns)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder('id')))
      .prepare('tasks_by_id_any'),
  };
  // Validation fills the defaults (pending, medium, null), so every create has the same shape.
  const insertStatement = db
    .insert(tasks)
    .values({
      userId: sql.placeholder('userId'),
      title: sql.placeholder('title'),
      description: sql.placeholder('description'),
      status: sql.placeholder('status'),
      priority: sql.placeholder('priority'),
    })
    .returning(recordColumns)
    .prepare('tasks_insert');
  const findRecord = async (id: number, scope: Scope): Promise<TaskRecord | undefined> => {
    const [task] =
      scope.ownerId === undefined
        ? await byIdStatements.any.execute({ id })
        : await byIdStatements.owned.execute({ id, ownerId: scope.ownerId });
    return task;
  };

  // One prepared statement per shape of list (which filters are present, which sort), made on first use.
  const listStatements = new Map<string, ReturnType<typeof prepareList>>();
  const prepareList = (filter: TaskFilter, name: string) => {
    const direction = filter.descending ? desc : asc;
    const pattern = sql.placeholder('pattern');
    // The total comes from the counters when the filters are ones they keep (owner, status, priority),
    // so a page costs the same however many tasks match; a text search has to count its matches.
    const countedTotal = and(
      filter.ownerId === undefined ? undefined : eq(taskCounts.userId, sql.placeholder('ownerId')),
      filter.statuses ? sql`${taskCounts.status} = any(${sql.placeholder('statuses')})` : undefined,
      filter.priorities ? sql`${taskCounts.priority} = any(${sql.placeholder('priorities')})` : undefined,
    );
    const total =
      filter.q === undefined
        ? sql<number>`(SELECT coalesce(sum(${taskCounts.n}), 0) FROM ${taskCounts} WHERE ${countedTotal ?? sql`true`})`
        : sql<number>`count(*) over ()`;
    return db
      .select({ ...taskColumns, total: total.mapWith(Number) })
      .from(tasks)
      .where(
        and(
          filter.ownerId === undefined ? undefined : eq(tasks.userId, sql.placeholder('ownerId')),
          filter.statuses ? sql`${tasks.status} = any(${sql.placeholder('statuses')})` : undefined,
          filter.priorities ? sql`${tasks.priority} = any(${sql.placeholder('priorities')})` : undefined,
          filter.q ? or(ilike(tasks.title, pattern), ilike(tasks.description, pattern)) : undefined,
        ),
      )
      .orderBy(direction(sortColumns[filter.sort]), direction(tasks.id))
      .limit(sql.placeholder('limit'))
      .offset(sql.placeholder('offset'))
      .prepare(name);
  };
  const listStatement = (filter: TaskFilter) => {
    // The name is the shape itself, so every repository instance names the same SQL alike.
    const flags = [filter.ownerId !== undefined, !!filter.statuses, !!filter.priorities, filter.q !== undefined]
      .map(Number)
      .join('');
    const shape = `tasks_list_${flags}_${filter.sort}_${filter.descending ? 'desc' : 'asc'}`;
    let statement = listStatements.get(shape);
    if (!statement) {
      statement = prepareList(filter, shape);
      listStatements.set(shape, statement);
    }
    return statement;
  };

  /**
   * The update with events: the row is locked and its version read first, so an update that
   * changes nothing (the version trigger leaves the version alone) records no event.
   */
  const updateRecordingEvents = (
    id: number,
    scope: Scope,
    changes: TaskUpdate,
    events: EventsOf<TaskRecord>,
    version?: number,
  ): Promise<TaskRecord | 'stale' | undefined> =>
    db.transaction(async (tx) => {
      const [current] = await tx.select({ version: tasks.version }).from(tasks).where(byId(id, scope)).for('update');
      if (!current) return undefined;
      if (version !== undefined && current.version !== version) return 'stale';
      const [task] = await tx.update(tasks).set(changes).where(eq(tasks.id, id)).returning(recordColumns);
      const record = task as TaskRecord;
      if (record.version !== current.version) await recordEvents(tx, events(record));
      return record;
    });

  return {
    /** With `events`, the task and its events commit together (see modules/events). */
    async insert(ownerId: number, input: TaskCreate, events?: EventsOf<TaskRecord>): Promise<TaskRecord> {
      const values = {
        userId: ownerId,
        title: input.title,
        description: input.description ?? null,
        status: input.status ?? 'pending',
        priority: input.priority ?? 'medium',
      };
      if (events) {
        return db.transaction(async (tx) => {
          const [task] = await tx.insert(tasks).values(values).returning(recordColumns);
          await recordEvents(tx, events(task as TaskRecord));
          return task as TaskRecord;
        });
      }
      const [task] = await insertStatement.execute(values);
      return task as TaskRecord;
    },

    /**
     * Creates a task under an Idempotency-Key, atomically: the task and the stored response commit
     * together, so a retry finds either nothing (and creates) or the response (and replays it). A
     * transaction-scoped advisory lock on (user, key) turns a concurrent duplicate into 'in_progress'.
     */
    async insertIdempotent(
      ownerId: number,
      input: TaskCreate,
      key: string,
      requestHash: Buffer,
      events?: EventsOf<TaskRecord>,
    ): Promise<IdempotentCreate> {
      return db.transaction(async (tx) => {
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
        const [task] = await tx
          .insert(tasks)
          .values({ userId: ownerId, ...input })
          .returning(recordColumns);
        const record = task as TaskRecord;
        const { version: _, ...body } = record;
        const row = { requestHash, responseStatus: 201, responseBody: body, createdAt: sql`now()` };
        await tx
          .insert(idempotencyKeys)
          .values({ userId: ownerId, key, ...row })
          .onConflictDoUpdate({ target: [idempotencyKeys.userId, idempotencyKeys.key], set: row });
        if (events) await recordEvents(tx, events(record));
        return { kind: 'created', task: record } as const;
      });
    },

    findById: findRecord,

    /** One page and its total in one prepared statement (the total from the counters, or a window when searching text). */
    async list(filter: TaskFilter): Promise<{ items: Task[]; total: number }> {
      const statement = listStatement(filter);
      const values = {
        ownerId: filter.ownerId,
        statuses: filter.statuses,
        priorities: filter.priorities,
        pattern: filter.q === undefined ? undefined : likePattern(filter.q),
      };
      const rows = await statement.execute({ ...values, limit: filter.limit, offset: filter.offset });
      if (rows.length === 0 && filter.offset > 0) {
        // Past the last page the total has no row to ride on: ask the same statement for its first row.
        const [first] = await statement.execute({ ...values, limit: 1, offset: 0 });
        return { items: [], total: first?.total ?? 0 };
      }
      return { items: rows.map(({ total: _, ...task }) => task), total: rows[0]?.total ?? 0 };
    },

    /**
     * Changes a task; with `version`, only if the task is still at that version (If-Match), decided
     * in the UPDATE itself so two writers with the same tag cannot both win.
     */
    async update(
      id: number,
      scope: Scope,
      changes: TaskUpdate,
      version?: number,
      events?: EventsOf<TaskRecord>,
    ): Promise<TaskRecord | 'stale' | undefined> {
      if (events) return updateRecordingEvents(id, scope, changes, events, version);
      const [task] = await db
        .update(tasks)
        .set(changes)
        .where(and(byId(id, scope), version === undefined ? undefined : eq(tasks.version, version)))
        .returning(recordColumns);
      if (task || version === undefined) return task;
      return (await findRecord(id, scope)) ? 'stale' : undefined;
    },

    /** With `events`, the deletion and its event (the task's last state) commit together. */
    async delete(id: number, scope: Scope, version?: number, events?: EventsOf<TaskRecord>): Promise<boolean | 'stale'> {
      const where = and(byId(id, scope), version === undefined ? undefined : eq(tasks.version, version));
      const deleted = events
        ? await db.transaction(async (tx) => {
            const [last] = await tx.delete(tasks).where(where).returning(recordColumns);
            if (last) await recordEvents(tx, events(last as TaskRecord));
            return last !== undefined;
          })
        : (await db.delete(tasks).where(where).returning({ id: tasks.id })).length > 0;
      if (deleted || version === undefined) return deleted;
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
