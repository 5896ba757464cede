import { createHash } from 'node:crypto';
import { postgresError, retryingDeadlock } from '../../db/errors.js';
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
import type { ProjectAccess, Refusal, Scope, TaskRecord, TasksRepository } from './repository.js';
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

const scopeOf = (user: CurrentUser): Scope => (user.role === 'admin' ? {} : { viewerId: user.id });

const NO_SUCH_PROJECT = 'no project with this id that you are a member of';
/** A project a task may not go into: one the caller cannot see (422, as if there were none) or only views (403). */
const projectRefused = (access: ProjectAccess) =>
  access === 'read'
    ? forbidden("A viewer may not add tasks to the project or move tasks into it: that needs the owner's or an editor's role")
    : invalidField('project_id', NO_SUCH_PROJECT);

/** The project a create or a move names was deleted meanwhile: the foreign key refuses it, as a project that never was. */
const isMissingProject = (error: unknown) => postgresError(error)?.constraint === 'tasks_project_id_projects_id_fk';

const preconditionFailed = () =>
  new AppError(412, 'The task has changed since the ETag in If-Match was read; fetch it again and retry');

/**
 * The same JSON body, whatever the order of its keys, hashes the same. A body without a due date,
 * labels or a project hashes as it did before tasks had them, so a retry across those upgrades still replays.
 */
function bodyHash(input: TaskCreate): Buffer {
  const { due_at, labels, project_id, ...rest } = input;
  const body = {
    ...rest,
    ...(due_at === null || due_at === undefined ? {} : { due_at }),
    ...(labels?.length ? { labels } : {}),
    ...(project_id === null || project_id === undefined ? {} : { project_id }),
  };
  const canonical = JSON.stringify(body, Object.keys(body).sort());
  return createHash('sha256').update(canonical).digest();
}

/** A title and labels are stored trimmed (as validated: their trimmed length is what counts). */
function trimmed<T extends { title?: string; labels?: string[] }>(input: T): T {
  const out = input.title === undefined ? input : { ...input, title: trimWhiteSpace(input.title) };
  return out.labels === undefined ? out : { ...out, labels: out.labels.map(trimWhiteSpace) };
}

/** A date-time as stored and compared: its instant in UTC, to the millisecond (any offset names the same instant). */
function instantText(text: string, field: string, location: string): string {
  const instant = instantOf(text);
  if (!instant) throw invalidField(field, DATE_TIME_RANGE, location);
  return instant.toISOString();
}

/** A due date sent is stored as its instant (null, no due date, stays null). */
const withInstantDueAt = <T extends { due_at?: string | null }>(input: T): T =>
  typeof input.due_at === 'string' ? { ...input, due_at: instantText(input.due_at, 'due_at', 'body') } : input;

/** A response stored before tasks had due dates, labels or projects is replayed as a task of today, without them. */
const withTodaysFields = (body: unknown): unknown =>
  body !== null && typeof body === 'object' ? { due_at: null, labels: [], project_id: null, ...body } : body;

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

  /** A write that changed nothing, as the error the caller gets. */
  const refused = async (user: CurrentUser, refusal: Refusal, projectId: number | null | undefined): Promise<AppError> => {
    switch (refusal) {
      case 'not_found':
        return notFound(TASK_NOT_FOUND);
      case 'forbidden':
        return forbidden("A viewer may not change the project's tasks: that needs the owner's or an editor's role");
      case 'stale':
        return preconditionFailed();
      case 'project_refused':
        return projectRefused(typeof projectId === 'number' ? await repository.projectAccess(projectId, scopeOf(user)) : 'none');
    }
  };

  const insert = async (user: CurrentUser, input: TaskCreate, idempotencyKey: string | undefined): Promise<CreateOutcome> => {
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
        return { body: withTodaysFields(outcome.body), status: outcome.status, replayed: true };
      case 'mismatch':
        throw new AppError(422, 'This Idempotency-Key was already used with a different request body', {
          errors: [{ location: 'headers', field: 'idempotency-key', message: 'already used with a different request body' }],
        });
      case 'in_progress':
        throw conflict('A request with this Idempotency-Key is still in progress; retry shortly');
    }
  };

  return {
    async create(user: CurrentUser, sent: TaskCreate, idempotencyKey?: string): Promise<CreateOutcome> {
      // Hashed trimmed: a retry that differs only in surrounding white space asks for the same task.
      const input = withInstantDueAt(trimmed(sent));
      if (typeof input.project_id === 'number') {
        // Asked of the primary before the insert; a project deleted in between is refused by the foreign key.
        const access = await repository.projectAccess(input.project_id, scopeOf(user));
        if (access !== 'edit') throw projectRefused(access);
      }
      try {
        return await insert(user, input, idempotencyKey);
      } catch (error) {
        if (isMissingProject(error)) throw projectRefused('none');
        throw error;
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
        ...scopeOf(user),
        userId: query.user_id,
        project:
          query.project_id === undefined ? undefined : query.project_id === 'none' ? ('none' as const) : Number(query.project_id),
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
      const { statuses, priorities, q, dueAfter, dueBefore, overdue, hasDue, labels, project } = filter;
      const filters = { statuses, priorities, q, dueAfter, dueBefore, overdue, hasDue, labels, project, userId: query.user_id };
      const position = query.cursor === '' ? undefined : cursors.decode(query.cursor, filter.sort, descending, filters);
      const after = position && { value: position.value === null ? null : String(position.value), id: position.id };
      const page = await reads.run(user.id, (tasks) => tasks.list({ ...filter, offset: 0, keyset: { after } }));
      const next = page.last && cursors.encode({ sort: filter.sort, descending, ...page.last }, filters);
      return { items: page.items, total: page.total, next };
    },

    async update(user: CurrentUser, id: number, sent: TaskUpdate, ifMatch?: string): Promise<TaskRecord> {
      const changes = withInstantDueAt(trimmed(sent));
      const write = (work: Work) => repository.update(work, id, scopeOf(user), changes, versionFor(ifMatch, id), actorOf(user));
      // Labels sent: the task is locked, its labels written, then the task updated, in one transaction
      // (run once more should a label's rename or delete have deadlocked with it: see labels/service.ts).
      let task: Awaited<ReturnType<typeof write>>;
      try {
        task =
          changes.labels === undefined ? await unitOfWork.statement(write) : await retryingDeadlock(() => unitOfWork.run(write));
      } catch (error) {
        if (isMissingProject(error)) throw projectRefused('none');
        throw error;
      }
      if (typeof task === 'string') throw await refused(user, task, changes.project_id);
      return task;
    },

    async remove(user: CurrentUser, id: number, ifMatch?: string): Promise<void> {
      const deleted = await unitOfWork.statement((work) =>
        repository.delete(work, id, scopeOf(user), versionFor(ifMatch, id), actorOf(user)),
      );
      if (deleted !== true) throw await refused(user, deleted, undefined);
    },
  };
}
