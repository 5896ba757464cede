import { createHash } from 'node:crypto';
import { retryingDeadlock } from '../../db/errors.js';
import { primaryReads, type ReadRouter } from '../../db/read-router.js';
import { AppError, conflict, forbidden, notFound } from '../../lib/errors.js';
import { expectedVersion } from '../../lib/etag.js';
import { pageOf } from '../../lib/pagination.js';
import { trimWhiteSpace } from '../../lib/text.js';
import { actorOf } from '../events/events.js';
import type { UnitOfWork, Work } from '../events/unit-of-work.js';
import type { CurrentUser } from '../sessions/current-user.js';
import type { Scope, TaskRecord, TasksRepository } from './repository.js';
import {
  DEFAULT_SORT,
  type TaskCreate,
  type TaskListQuery,
  type TaskPriority,
  type TaskSortKey,
  type TaskStatus,
  type TaskUpdate,
} from './schemas.js';

// One answer for "does not exist" and "not yours": nothing tells a user that an id is taken.
const TASK_NOT_FOUND = 'Task not found';

const scopeOf = (user: CurrentUser): Scope => (user.role === 'admin' ? {} : { ownerId: user.id });

const preconditionFailed = () =>
  new AppError(412, 'The task has changed since the ETag in If-Match was read; fetch it again and retry');

/** The same JSON body, whatever the order of its keys, hashes the same. */
function bodyHash(body: object): Buffer {
  const canonical = JSON.stringify(body, Object.keys(body).sort());
  return createHash('sha256').update(canonical).digest();
}

/** A title and labels are stored trimmed (as validated: their trimmed length is what counts). */
function trimmed<T extends { title?: string; labels?: string[] }>(input: T): T {
  const out = input.title === undefined ? input : { ...input, title: trimWhiteSpace(input.title) };
  return out.labels === undefined ? out : { ...out, labels: out.labels.map(trimWhiteSpace) };
}

/** What an Idempotency-Key's request hashes as: a create without labels hashes as it did before tasks had labels. */
const hashed = ({ labels, ...rest }: TaskCreate): object => (labels?.length ? { ...rest, labels } : rest);

export type CreateOutcome = { task: TaskRecord; replayed: false } | { body: unknown; status: number; replayed: true };

/**
 * `reads` routes the lag-tolerant reads (a task, a list); writes use `repository`, the primary's,
 * each in one unit of work (with its event when events are on; a create, an update and a delete
 * are one statement each, their event included).
 */
export function createTasksService(
  repository: TasksRepository,
  { unitOfWork, reads = primaryReads(repository) }: { unitOfWork: UnitOfWork; reads?: ReadRouter<TasksRepository> },
) {
  /** Applies If-Match: 'any' only requires the task to exist; -1 (no tag for this task) can only fail. */
  const versionFor = (ifMatch: string | undefined, id: number) => {
    const expected = expectedVersion(ifMatch, id);
    return expected === 'any' ? undefined : expected;
  };

  return {
    async create(user: CurrentUser, sent: TaskCreate, idempotencyKey?: string): Promise<CreateOutcome> {
      // Hashed trimmed: a retry that differs only in surrounding white space asks for the same task.
      const input = trimmed(sent);
      const actor = actorOf(user);
      if (idempotencyKey === undefined) {
        // With labels a create is several statements (the task, its labels, its event): one transaction.
        const unit = input.labels?.length ? unitOfWork.run : unitOfWork.statement;
        return { task: await unit((work) => repository.insert(work, user.id, input, actor)), replayed: false };
      }
      const outcome = await unitOfWork.run((work) =>
        repository.insertIdempotent(work, user.id, input, idempotencyKey, bodyHash(hashed(input)), actor),
      );
      switch (outcome.kind) {
        case 'created':
          return { task: outcome.task, replayed: false };
        case 'replay':
          // A response stored before tasks had labels has none: it is shown as a task without labels.
          return { body: { labels: [], ...(outcome.body as object) }, status: outcome.status, replayed: true };
        case 'mismatch':
          throw new AppError(422, 'This Idempotency-Key was already used with a different request body', {
            errors: [{ location: 'headers', field: 'idempotency-key', message: 'already used with a different request body' }],
          });
        case 'in_progress':
          throw conflict('A request with this Idempotency-Key is still in progress; retry shortly');
      }
    },

    async get(user: CurrentUser, id: number): Promise<TaskRecord> {
      const task = await reads.run(user.id, (tasks) => tasks.findById(id, scopeOf(user)));
      if (!task) throw notFound(TASK_NOT_FOUND);
      return task;
    },

    list(user: CurrentUser, query: TaskListQuery) {
      if (user.role !== 'admin' && query.user_id !== undefined && query.user_id !== user.id) {
        throw forbidden("Only admins can list other users' tasks");
      }
      const sort = query.sort ?? DEFAULT_SORT;
      const descending = sort.startsWith('-');
      const filter = {
        ownerId: user.role === 'admin' ? query.user_id : user.id,
        statuses: query.status?.split(',') as TaskStatus[] | undefined,
        priorities: query.priority?.split(',') as TaskPriority[] | undefined,
        q: query.q,
        labels: query.label?.split(',').map(trimWhiteSpace),
        sort: (descending ? sort.slice(1) : sort) as TaskSortKey,
        descending,
        ...pageOf(query),
      };
      return reads.run(user.id, (tasks) => tasks.list(filter));
    },

    async update(user: CurrentUser, id: number, changes: TaskUpdate, ifMatch?: string): Promise<TaskRecord> {
      const write = (work: Work) =>
        repository.update(work, id, scopeOf(user), trimmed(changes), versionFor(ifMatch, id), actorOf(user));
      // Labels sent: the task is locked, its labels written, then the task updated, in one transaction
      // (run once more should a label's rename or delete have deadlocked with it: see labels/service.ts).
      const task =
        changes.labels === undefined ? await unitOfWork.statement(write) : await retryingDeadlock(() => unitOfWork.run(write));
      if (task === 'stale') throw preconditionFailed();
      if (!task) throw notFound(TASK_NOT_FOUND);
      return task;
    },

    async remove(user: CurrentUser, id: number, ifMatch?: string): Promise<void> {
      const deleted = await unitOfWork.statement((work) =>
        repository.delete(work, id, scopeOf(user), versionFor(ifMatch, id), actorOf(user)),
      );
      if (deleted === 'stale') throw preconditionFailed();
      if (!deleted) throw notFound(TASK_NOT_FOUND);
    },
  };
}
