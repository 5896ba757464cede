import { randomUUID } from 'node:crypto';

/**
 * The envelope of every event published to RabbitMQ (README, "Events (RabbitMQ)"). The body shape
 * is a contract with consumers: add fields if needed, never rename or remove them. Each module
 * builds its own events with newEvent (tasks/events.ts, users/events.ts): this module knows none.
 */

/** Who made the change: the authenticated caller, or null (self-registration, create-admin, FIRST_ADMIN_*). */
export interface Actor {
  id: number;
  username: string;
  /** The user's role (users/schemas.ts, ROLES). */
  role: string;
}

export interface EventBody<Data = unknown> {
  /** Unique per event: consumers de-duplicate on it (delivery is at least once). */
  id: string;
  /**
   * `<subject>.<change>`: task.created, user.role_changed (the modules' TaskEventType, UserEventType, …); a
   * label event (label.renamed) has its owner as subject, as a label has no id of its own in the API.
   */
  type: string;
  occurred_at: string;
  actor: Actor | null;
  subject: { type: string; id: number };
  /** The resource after the change, as the API shows it; for task.deleted, its last state. */
  data: Data;
}

/** An event about to be written to the outbox, with the key its order is kept by. */
export interface NewEvent {
  body: EventBody;
  /** 'task:12', 'user:3': events with one key are published in the order they were written. */
  aggregateKey: string;
}

/** What services see of events: present only when AMQP_URL is set (the events plugin provides it). */
export interface Events {
  /** Tells this instance's publisher that rows were committed (it would find them at its next poll anyway). */
  wake(): void;
  /** Whether the publisher has a channel to RabbitMQ right now (informational; see /readyz). */
  readonly brokerConnected: boolean;
}

export const actorOf = (user: Actor): Actor => ({
  id: user.id,
  username: user.username,
  role: user.role,
});

export function newEvent<Data>(type: string, actor: Actor | null, subject: EventBody['subject'], data: Data): NewEvent {
  // Keys in the documented order: the body is stored and sent verbatim.
  const body: EventBody<Data> = { id: randomUUID(), type, occurred_at: new Date().toISOString(), actor, subject, data };
  return { body, aggregateKey: `${subject.type}:${subject.id}` };
}

/**
 * newEvent's body as text around a subject id and data that SQL fills in (outboxInsert): the
 * same keys in the same order, so both ways write the same body.
 */
export function envelopeAround(type: string, actor: Actor | null, subjectType: string) {
  const eventId = randomUUID();
  const opening = JSON.stringify({ id: eventId, type, occurred_at: new Date().toISOString(), actor });
  return {
    eventId,
    head: `${opening.slice(0, -1)},"subject":{"type":${JSON.stringify(subjectType)},"id":`,
    middle: '},"data":',
    tail: '}',
  };
}
