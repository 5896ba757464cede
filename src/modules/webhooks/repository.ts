import { and, count, desc, eq, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { users, webhookDeliveries, webhooks } from '../../db/schema.js';
import type { Delivery, Webhook } from './schemas.js';

/** A webhook as stored: the API's fields and its sealed secret. */
export interface StoredWebhook extends Webhook {
  userId: number;
  sealedSecret: Buffer;
}

const webhookColumns = {
  id: webhooks.id,
  userId: webhooks.userId,
  url: webhooks.url,
  description: webhooks.description,
  events: webhooks.eventTypes,
  active: webhooks.active,
  disabled_reason: webhooks.disabledReason,
  sealedSecret: webhooks.secret,
  created_at: webhooks.createdAt,
  updated_at: webhooks.updatedAt,
};

const deliveryColumns = {
  id: webhookDeliveries.id,
  event_id: webhookDeliveries.eventId,
  event_type: webhookDeliveries.eventType,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  response_status: webhookDeliveries.responseStatus,
  duration_ms: webhookDeliveries.durationMs,
  error: webhookDeliveries.error,
  next_attempt_at:
    sql<Date | null>`CASE WHEN ${webhookDeliveries.status} = 'pending' THEN ${webhookDeliveries.nextAttemptAt} END`.mapWith(
      (value: string | Date | null) => (value === null ? null : new Date(value)),
    ),
  last_attempt_at: webhookDeliveries.lastAttemptAt,
  created_at: webhookDeliveries.createdAt,
};

/** A row as read: its event types are the ones the schema allowed when it was written. */
type Row = Omit<StoredWebhook, 'events'> & { events: string[] };
const stored = (row: Row | undefined) => row as StoredWebhook | undefined;

/** The API's view of a stored webhook: never its secret. */
export const shown = ({ userId: _, sealedSecret: __, ...webhook }: StoredWebhook): Webhook => webhook;

/** Webhooks and their deliveries as their owner manages them; every read and write is scoped to the owner. */
export function createWebhooksRepository(db: Database) {
  const mine = (userId: number, id: number) => and(eq(webhooks.id, id), eq(webhooks.userId, userId));
  return {
    /**
     * How many webhooks the user has, counted under a lock on the user's row (FOR NO KEY UPDATE: it
     * does not wait for their task writes), so two creations at once cannot both pass the limit.
     */
    async countLocked(tx: Executor, userId: number): Promise<number> {
      await tx.execute(sql`SELECT 1 FROM ${users} WHERE id = ${userId} FOR NO KEY UPDATE`);
      const [row] = await tx.select({ n: count() }).from(webhooks).where(eq(webhooks.userId, userId));
      return row?.n ?? 0;
    },

    async insert(
      tx: Executor,
      values: { userId: number; url: string; description: string | null; events: string[]; sealedSecret: Buffer },
    ): Promise<StoredWebhook> {
      const [row] = await tx
        .insert(webhooks)
        .values({
          userId: values.userId,
          url: values.url,
          description: values.description,
          eventTypes: values.events,
          secret: values.sealedSecret,
        })
        .returning(webhookColumns);
      return row as StoredWebhook;
    },

    async list(userId: number, page: { limit: number; offset: number }): Promise<{ items: Webhook[]; total: number }> {
      const [items, [total]] = await Promise.all([
        db
          .select(webhookColumns)
          .from(webhooks)
          .where(eq(webhooks.userId, userId))
          .orderBy(webhooks.id)
          .limit(page.limit)
          .offset(page.offset),
        db.select({ n: count() }).from(webhooks).where(eq(webhooks.userId, userId)),
      ]);
      return { items: items.map((row) => shown(row as StoredWebhook)), total: total?.n ?? 0 };
    },

    async find(userId: number, id: number): Promise<StoredWebhook | undefined> {
      const [row] = await db.select(webhookColumns).from(webhooks).where(mine(userId, id));
      return stored(row);
    },

    /** Enabling again (`active: true`) starts the count of failures over and clears the reason. */
    async update(
      userId: number,
      id: number,
      change: { url?: string; description?: string | null; events?: string[]; active?: boolean },
    ): Promise<StoredWebhook | undefined> {
      const [row] = await db
        .update(webhooks)
        .set({
          ...(change.url === undefined ? {} : { url: change.url }),
          ...(change.description === undefined ? {} : { description: change.description }),
          ...(change.events === undefined ? {} : { eventTypes: change.events }),
          ...(change.active === undefined ? {} : { active: change.active }),
          ...(change.active === true ? { consecutiveFailures: 0, disabledReason: null } : {}),
        })
        .where(mine(userId, id))
        .returning(webhookColumns);
      return stored(row);
    },

    /** Its deliveries go with it (ON DELETE CASCADE). */
    async delete(userId: number, id: number): Promise<boolean> {
      const deleted = await db.delete(webhooks).where(mine(userId, id)).returning({ id: webhooks.id });
      return deleted.length > 0;
    },

    /** A webhook's deliveries, newest first. */
    async deliveries(webhookId: number, page: { limit: number; offset: number }): Promise<{ items: Delivery[]; total: number }> {
      const where = eq(webhookDeliveries.webhookId, webhookId);
      const [items, [total]] = await Promise.all([
        db
          .select(deliveryColumns)
          .from(webhookDeliveries)
          .where(where)
          .orderBy(desc(webhookDeliveries.id))
          .limit(page.limit)
          .offset(page.offset),
        db.select({ n: count() }).from(webhookDeliveries).where(where),
      ]);
      return { items: items as Delivery[], total: total?.n ?? 0 };
    },

    /**
     * A test delivery: not from the outbox (seq 0), its own aggregate key, so it waits for nothing
     * and nothing waits for it.
     */
    async insertPing(webhookId: number, event: { id: string; type: string; body: string }): Promise<Delivery> {
      const [row] = await db
        .insert(webhookDeliveries)
        .values({
          webhookId,
          seq: 0,
          eventId: event.id,
          eventType: event.type,
          aggregateKey: `ping:${event.id}`,
          payload: sql`${event.body}::json`,
        })
        .returning(deliveryColumns);
      return row as Delivery;
    },
  };
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>;
