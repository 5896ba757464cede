import { forbidden, notFound } from '../../lib/errors.js';
import type { CurrentUser } from '../../plugins/auth.js';
import type { Scope, TasksRepository } from './repository.js';
import type { Task, TaskCreate, TaskListQuery, TaskPriority, TaskSortKey, TaskStatus, TaskUpdate } from './schemas.js';

// One answer for "does not exist" and "not yours": nothing tells a user that an id is taken.
const TASK_NOT_FOUND = 'Task not found';

const scopeOf = (user: CurrentUser): Scope => (user.role === 'admin' ? {} : { ownerId: user.id });

export function createTasksService(repository: TasksRepository) {
  return {
    create: (user: CurrentUser, input: TaskCreate) => repository.insert(user.id, input),

    async get(user: CurrentUser, id: number): Promise<Task> {
      const task = await repository.findById(id, scopeOf(user));
      if (!task) throw notFound(TASK_NOT_FOUND);
      return task;
    },

    list(user: CurrentUser, query: TaskListQuery) {
      if (user.role !== 'admin' && query.user_id !== undefined && query.user_id !== user.id) {
        throw forbidden("Only admins can list other users' tasks");
      }
      const descending = query.sort.startsWith('-');
      return repository.list({
        ownerId: user.role === 'admin' ? query.user_id : user.id,
        statuses: query.status?.split(',') as TaskStatus[] | undefined,
        priorities: query.priority?.split(',') as TaskPriority[] | undefined,
        q: query.q,
        sort: (descending ? query.sort.slice(1) : query.sort) as TaskSortKey,
        descending,
        limit: query.limit,
        offset: query.offset,
      });
    },

    async update(user: CurrentUser, id: number, changes: TaskUpdate): Promise<Task> {
      const task = await repository.update(id, scopeOf(user), changes);
      if (!task) throw notFound(TASK_NOT_FOUND);
      return task;
    },

    async remove(user: CurrentUser, id: number): Promise<void> {
      if (!(await repository.delete(id, scopeOf(user)))) throw notFound(TASK_NOT_FOUND);
    },
  };
}
