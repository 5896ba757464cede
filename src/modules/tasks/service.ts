import { createHash } from 'node:crypto';
import { retryingDeadlock } from '../../db/errors.js';
import { primaryReads, type ReadRouter } from '../../db/read-router.js';
import type { Cursors } from '../../lib/cursor.js';
import { DATE_TIME_RANGE, instantOf } from '../../lib/date-time.js';
import { AppError, conflict, forbidden, invalidField, notFound } from '../../lib/errors.js';
import { expectedVersion } from '../../lib/etag.js';
import { pageOf } from '../../lib/pagination.js';
import { trimWhiteSpace } from '../../lib/text.js';
import { actorOf } from '../events/events.js';
import type { UnitOfWork, Work } from '../events/unit-of-work.js';
import type { CurrentUser } from '../sessions/current-user.js';
import type { Scope, TaskRecord, TasksRepository } from './repository.js';
import {
  DEFAULT_SORT,
  type Task,
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

/**
 * The same JSON body, whatever the order of its keys, hashes the same. A body without a due date or
 * labels hashes as it did before tasks had them, so a retry across those upgrades still replays.
 */
function bodyHash(input: TaskCreate): Buffer {
  const { due_at, labels, ...rest } = input;
  const body = { ...rest, ...(due_at === null || due_at === undefined ? {} : { due_at }), ...(labels?.length ? { labels } : {}) };
  const canonical = JSON.stringify(body, Object.keys(body).sort());
  return createHash('sha256').update(canonical).digest();
}

/** A title and labels are stored trimmed (as validated: their trimmed length is what counts). */
function trimmed<T extends { title?: string; labels?: string[] }>(input: T): T {
  const out = input.title === undefined ? input : { ...input, title: trimWhiteSpace(input.title) };
  return out.labels === undefined ? out : { ...out, labels: out.labels.map(trimWhiteSpace) };
}

/** What an Idempotency-Key's request hashes as: a create without labels hashes as it did before tasks had labels. */
/** A date-time as stored and compared: its instant in UTC, to the millisecond (any offset names the same instant). */
function instantText(text: string, field: string, location: string): string {
  const instant = instantOf(text);
  if (!instant) throw invalidField(field, DATE_TIME_RANGE, location);
  return instant.toISOString();
}

/** A due date sent is stored as its instant (null, no due date, stays null). */
const withInstantDueAt = <T extends { due_at?: string | null }>(input: T): T =>
  typeof input.due_at === 'string' ? { ...input, due_at: instantText(input.due_at, 'due_at', 'body') } : input;

/** A response stored before tasks had a due date is replayed as a task of today, without one. */
const withDueAtField = (body: unknown): unknown =>
  body !== null && typeof body === 'object' && !('due_at' in body) ? { ...body, due_at: null } : body;

export type CreateOutcome = { task: TaskRecord; replayed: false } | { body: unknown; status: number; replayed: true };

/**
 * `reads` routes the lag-tolerant reads (a task, a list); writes use `repository`, the primary's,
 * each in one unit of work (with its event when events are on; a create, an update and a delete
 * are one statement each, their event included).
 */
export function createTasksService(
  repository: TasksRepository,
  {
    unitOfWork,
    cursors,
    reads = primaryReads(repository),
  }: { unitOfWork: UnitOfWork; cursors: Cursors; reads?: ReadRouter<TasksRepository> },
) {
  /** Applies If-Match: 'any' only requires the task to exist; -1 (no tag for this task) can only fail. */
  const versionFor = (ifMatch: string | undefined, id: number) => {
    const expected = expectedVersion(ifMatch, id);
    return expected === 'any' ? undefined : expected;
  };

  return {
    async create(user: CurrentUser, sent: TaskCreate, idempotencyKey?: string): Promise<CreateOutcome> {
      // Hashed trimmed: a retry that differs only in surrounding white space asks for the same task.
      const input = withInstantDueAt(trimmed(sent));
      const actor = actorOf(user);
      if (idempotencyKey === undefined) {
        // With labels a create is several statements (the task, its labels, its event): one transaction.
        const unit = input.labels?.length ? unitOfWork.run : unitOfWork.statement;
        return { task: await unit((work) => repository.insert(work, user.id, input, actor)), replayed: false };
      }
      const outcome = await unitOfWork.run((work) =>
        repository.insertIdempotent(work, user.id, input, idempotencyKey, bodyHash(input), actor),
      );
      switch (outcome.kind) {
        case 'created':
          return { task: outcome.task, replayed: false };
        case 'replay':
          // A response stored before tasks had due dates or labels is shown as a task without them.
          return { body: { labels: [], ...(withDueAtField(outcome.body) as object) }, status: outcome.status, replayed: true };
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

    /** A page; with `cursor` (keyset paging) also the next page's cursor, when there is one. */
    async list(user: CurrentUser, query: TaskListQuery): Promise<{ items: Task[]; total: number; next?: string | undefined }> {
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
        dueAfter: query.due_after === undefined ? undefined : instantText(query.due_after, 'due_after', 'querystring'),
        dueBefore: query.due_before === undefined ? undefined : instantText(query.due_before, 'due_before', 'querystring'),
        overdue: query.overdue,
        hasDue: query.has_due,
        labels: query.label?.split(',').map(trimWhiteSpace),
        sort: (descending ? sort.slice(1) : sort) as TaskSortKey,
        descending,
        ...pageOf(query),
      };
      if (query.cursor === undefined) return reads.run(user.id, (tasks) => tasks.list(filter));
      // What a cursor is bound to: the filters as asked (not who is asking: which tasks a caller sees is the
      // list's WHERE, whatever the cursor), normalised as the query uses them. The limit may change mid-walk.
      const { statuses, priorities, q, dueAfter, dueBefore, overdue, hasDue, labels } = filter;
      const filters = { statuses, priorities, q, dueAfter, dueBefore, overdue, hasDue, labels, userId: query.user_id };
      const position = query.cursor === '' ? undefined : cursors.decode(query.cursor, filter.sort, descending, filters);
      const after = position && { value: position.value === null ? null : String(position.value), id: position.id };
      const page = await reads.run(user.id, (tasks) => tasks.list({ ...filter, offset: 0, keyset: { after } }));
      const next = page.last && cursors.encode({ sort: filter.sort, descending, ...page.last }, filters);
      return { items: page.items, total: page.total, next };
    },

    async update(user: CurrentUser, id: number, changes: TaskUpdate, ifMatch?: string): Promise<TaskRecord> {
      const write = (work: Work) =>
        repository.update(work, id, scopeOf(user), withInstantDueAt(trimmed(changes)), versionFor(ifMatch, id), actorOf(user));
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
