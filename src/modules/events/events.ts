import { randomUUID } from 'node:crypto';
import type { Task } from '../tasks/schemas.js';
import type { Role, User } from '../users/schemas.js';

/**
 * Events about tasks and users, as published to RabbitMQ (README, "Events (RabbitMQ)"). The body
 * shape is a contract with consumers: add fields if needed, never rename or remove them.
 */
export type TaskEventType = 'task.created' | 'task.updated' | 'task.deleted';
export type UserEventType = 'user.registered' | 'user.deactivated' | 'user.reactivated' | 'user.role_changed';
export type EventType = TaskEventType | UserEventType;

/** Who made the change: the authenticated caller, or null (self-registration, create-admin, FIRST_ADMIN_*). */
export interface Actor {
  id: number;
  username: string;
  role: Role;
}

export interface EventBody<Data = unknown> {
  /** Unique per event: consumers de-duplicate on it (delivery is at least once). */
  id: string;
  type: EventType;
  occurred_at: string;
  actor: Actor | null;
  subject: { type: 'task' | 'user'; id: number };
  /** The resource after the change, as the API shows it; for task.deleted, its last state. */
  data: Data;
}

/** An event about to be written to the outbox, with the key its order is kept by. */
export interface NewEvent {
  body: EventBody;
  /** 'task:12', 'user:3': events with one key are published in the order they were written. */
  aggregateKey: string;
}

/**
 * Given to a repository write: builds the events of its result, inside the write's transaction.
 * Absent when events are off, so that path stays exactly as it was (no transaction, no outbox row).
 */
export type EventsOf<Result> = (result: Result) => NewEvent[];

/** What services see of events: present only when AMQP_URL is set (the events plugin provides it). */
export interface Events {
  /** Tells this instance's publisher that rows were committed (it would find them at its next poll anyway). */
  wake(): void;
  /** Whether the publisher has a channel to RabbitMQ right now (informational; see /readyz). */
  readonly brokerConnected: boolean;
}

export const actorOf = (user: { id: number; username: string; role: Role }): Actor => ({
  id: user.id,
  username: user.username,
  role: user.role,
});

function event<Data>(type: EventType, actor: Actor | null, subject: EventBody['subject'], data: Data): NewEvent {
  // Keys in the documented order: the body is stored and sent verbatim.
  const body: EventBody<Data> = { id: randomUUID(), type, occurred_at: new Date().toISOString(), actor, subject, data };
  return { body, aggregateKey: `${subject.type}:${subject.id}` };
}

/** A task as the API shows it: the internal version is not part of it. */
function taskData(task: Task & { version?: number }): Task {
  const { version: _, ...shown } = task;
  return shown;
}

export const taskEvent = (type: TaskEventType, actor: Actor | null, task: Task): NewEvent =>
  event(type, actor, { type: 'task', id: task.id }, taskData(task));

export const userRegistered = (actor: Actor | null, user: User): NewEvent =>
  event('user.registered', actor, { type: 'user', id: user.id }, user);

/** What an admin change did: role_changed when the role differs, then (de|re)activated when activity flips. */
export function userChangeEvents(actor: Actor | null, change: { before: User; after: User }): NewEvent[] {
  const { before, after } = change;
  const events: NewEvent[] = [];
  const subject = { type: 'user', id: after.id } as const;
  if (before.role !== after.role) events.push(event('user.role_changed', actor, subject, after));
  if (before.is_active && !after.is_active) events.push(event('user.deactivated', actor, subject, after));
  if (!before.is_active && after.is_active) events.push(event('user.reactivated', actor, subject, after));
  return events;
}
