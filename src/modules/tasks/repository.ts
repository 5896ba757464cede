import { and, asc, count, desc, eq, ilike, inArray, or, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { tasks } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
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
  return {
    async insert(ownerId: number, input: TaskCreate): Promise<Task> {
      const [task] = await db
        .insert(tasks)
        .values({ userId: ownerId, ...input })
        .returning(taskColumns);
      return task as Task;
    },

    async findById(id: number, scope: Scope): Promise<Task | undefined> {
      const [task] = await db.select(taskColumns).from(tasks).where(byId(id, scope));
      return task;
    },

    /** One page and the total in one statement; the total comes from a window over the same filter. */
    async list(filter: TaskFilter): Promise<{ items: Task[]; total: number }> {
      const where = and(
        filter.ownerId === undefined ? undefined : eq(tasks.userId, filter.ownerId),
        filter.statuses ? inArray(tasks.status, filter.statuses) : undefined,
        filter.priorities ? inArray(tasks.priority, filter.priorities) : undefined,
        filter.q ? or(ilike(tasks.title, likePattern(filter.q)), ilike(tasks.description, likePattern(filter.q))) : undefined,
      );
      const direction = filter.descending ? desc : asc;
      const rows = await db
        .select({ ...taskColumns, total: sql<number>`count(*) over ()`.mapWith(Number) })
        .from(tasks)
        .where(where)
        .orderBy(direction(sortColumns[filter.sort]), direction(tasks.id))
        .limit(filter.limit)
        .offset(filter.offset);
      if (rows.length === 0 && filter.offset > 0) {
        // Past the last page the window has no row to ride on: count separately.
        const [counted] = await db.select({ total: count() }).from(tasks).where(where);
        return { items: [], total: counted?.total ?? 0 };
      }
      return { items: rows.map(({ total: _, ...task }) => task), total: rows[0]?.total ?? 0 };
    },

    async update(id: number, scope: Scope, changes: TaskUpdate): Promise<Task | undefined> {
      const [task] = await db.update(tasks).set(changes).where(byId(id, scope)).returning(taskColumns);
      return task;
    },

    async delete(id: number, scope: Scope): Promise<boolean> {
      const deleted = await db.delete(tasks).where(byId(id, scope)).returning({ id: tasks.id });
      return deleted.length > 0;
    },
  };
}

export type TasksRepository = ReturnType<typeof createTasksRepository>;
