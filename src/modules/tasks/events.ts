import { type Actor, type NewEvent, newEvent } from '../events/events.js';
import { taskJson } from './columns.js';
import type { Task } from './schemas.js';

export const TASK_EVENT_TYPES = ['task.created', 'task.updated', 'task.deleted'] as const;
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** A task as the API shows it: the internal version is not part of it. */
function taskData(task: Task & { version?: number }): Task {
  const { version: _, ...shown } = task;
  return shown;
}

/** A task event built here (the writes build theirs in SQL, taskOutbox: the same body). */
export const taskEvent = (type: TaskEventType, actor: Actor | null, task: Task): NewEvent =>
  newEvent(type, actor, { type: 'task', id: task.id }, taskData(task));

/**
 * A task event from each row of the write's `changed` CTE, in the same statement (outboxInsert).
 * `data` is the task as the API shows it: its columns in the API's order, without the internal
 * version, timestamps as the API writes them.
 */
export const taskOutbox = (type: TaskEventType, actor: Actor) => ({
  from: 'changed',
  type,
  actor,
  subjectType: 'task',
  data: taskJson('changed'),
});
