import { type Actor, type NewEvent, newEvent } from '../events/events.js';
import { PROJECT_EVENT_TYPES } from '../projects/events.js';
import { TASK_EVENT_TYPES } from '../tasks/events.js';
import { LABEL_EVENT_TYPES } from '../tasks/labels/events.js';
import { USER_EVENT_TYPES } from '../users/events.js';

/** The webhooks' own events: a webhook disabled after failing deliveries (to the outbox, like any event). */
export const WEBHOOK_EVENT_TYPES = ['webhook.disabled'] as const;

/**
 * Every event type a webhook may subscribe to: the modules' own lists, joined here (one source: a
 * new type in a module is subscribable at once). `*` subscribes to all of them, and to types added later.
 */
export const SUBSCRIBABLE_EVENT_TYPES = [
  ...TASK_EVENT_TYPES,
  ...PROJECT_EVENT_TYPES,
  ...LABEL_EVENT_TYPES,
  ...USER_EVENT_TYPES,
  ...WEBHOOK_EVENT_TYPES,
] as const;
export const ALL_EVENTS = '*';

/** What POST /webhooks/{id}/test sends: not an outbox event, and not subscribable (it is always delivered). */
export const PING_EVENT_TYPE = 'webhook.ping';

/** A webhook's events carry it as their subject, `webhook:<id>`: its owner alone receives them. */
export const webhookDisabledEvent = (webhook: { id: number }, data: Record<string, unknown>): NewEvent =>
  newEvent(WEBHOOK_EVENT_TYPES[0], null, { type: 'webhook', id: webhook.id }, data);

export const pingEvent = (actor: Actor, webhookId: number): NewEvent =>
  newEvent(PING_EVENT_TYPE, actor, { type: 'webhook', id: webhookId }, { webhook_id: webhookId, message: 'ping from task-api' });
