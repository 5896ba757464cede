import { type Actor, type NewEvent, newEvent } from '../../events/events.js';

export const LABEL_EVENT_TYPES = ['label.renamed', 'label.deleted'] as const;
export type LabelEventType = (typeof LABEL_EVENT_TYPES)[number];

/** A rename as its event tells it: the label's name before (as it was spelled) and after, and whether it merged into another. */
export interface LabelRenamed {
  name: string;
  previousName: string;
  merged: boolean;
  /** How many of the owner's tasks carry the label (the one renamed, or the one merged into) now. */
  taskCount: number;
}

/** A delete as its event tells it: the label's name (as it was spelled) and how many tasks carried it. */
export interface LabelDeleted {
  name: string;
  taskCount: number;
}

/**
 * A label is a word of its owner's vocabulary, with no id the API shows: its events' subject is the
 * owner, so one user's label events are published in the order they were written (a rename, then a
 * delete of the new name). The routing key is the type, under label.*.
 */
const labelEvent = (type: LabelEventType, actor: Actor, ownerId: number, data: Record<string, unknown>): NewEvent =>
  newEvent(type, actor, { type: 'user', id: ownerId }, { user_id: ownerId, ...data });

export const labelRenamedEvent = (actor: Actor, ownerId: number, change: LabelRenamed): NewEvent =>
  labelEvent('label.renamed', actor, ownerId, {
    name: change.name,
    previous_name: change.previousName,
    merged: change.merged,
    task_count: change.taskCount,
  });

export const labelDeletedEvent = (actor: Actor, ownerId: number, deleted: LabelDeleted): NewEvent =>
  labelEvent('label.deleted', actor, ownerId, { name: deleted.name, task_count: deleted.taskCount });
