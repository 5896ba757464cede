import { type Actor, type NewEvent, newEvent } from '../events/events.js';
import type { User } from './schemas.js';

export const USER_EVENT_TYPES = ['user.registered', 'user.deactivated', 'user.reactivated', 'user.role_changed'] as const;
export type UserEventType = (typeof USER_EVENT_TYPES)[number];

const userEvent = (type: UserEventType, actor: Actor | null, user: User): NewEvent =>
  newEvent(type, actor, { type: 'user', id: user.id }, user);

export const userRegistered = (actor: Actor | null, user: User): NewEvent => userEvent('user.registered', actor, user);

/** What an admin change did: role_changed when the role differs, then (de|re)activated when activity flips. */
export function userChangeEvents(actor: Actor | null, change: { before: User; after: User }): NewEvent[] {
  const { before, after } = change;
  const events: NewEvent[] = [];
  if (before.role !== after.role) events.push(userEvent('user.role_changed', actor, after));
  if (before.is_active && !after.is_active) events.push(userEvent('user.deactivated', actor, after));
  if (!before.is_active && after.is_active) events.push(userEvent('user.reactivated', actor, after));
  return events;
}
