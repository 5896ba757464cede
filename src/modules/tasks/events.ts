import { type Actor, type NewEvent, newEvent } from '../events/events.js';
import type { Task } from './schemas.js';

export type TaskEventType = 'task.created' | 'task.updated' | 'task.deleted';

/** A task as the API shows it: the internal version is not part of it. */
function taskData(task: Task & { version?: number }): Task {
  const { version: _, ...shown } = task;
  return shown;
}

export const taskEvent = (type: TaskEventType, actor: Actor | null, task: Task): NewEvent =>
  newEvent(type, actor, { type: 'task', id: task.id }, taskData(task));
