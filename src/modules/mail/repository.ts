import { and, eq, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { mailQueue } from '../../db/schema.js';

/** A mail as queued: the template and its ordinary values; `secret` is already sealed (see index.ts). */
export interface QueuedMail {
  template: string;
  recipient: string;
  params: Record<string, string | number>;
  secret?: Buffer | undefined;
  /** Past this the mail is useless (its token is dead): dropped unsent. */
  expiresAt?: Date | undefined;
}

/** A claimed row: `attempts` counts this attempt already. */
export interface ClaimedMail extends QueuedMail {
  id: number;
  attempts: number;
}

/**
 * The mail queue. `enqueue` runs in the transaction of the change that asks for the mail (the unit of
 * work's); the sender claims due rows, sends them outside any transaction, then deletes or reschedules
 * them. A claim is a lease: it moves the row's next attempt `leaseMs` ahead, so another instance (or
 * this one after a crash) takes it again only once the lease has run out.
 */
export function createMailQueueRepository(db: Database) {
  return {
    async enqueue(tx: Executor, mail: QueuedMail): Promise<void> {
      await tx.insert(mailQueue).values({
        template: mail.template,
        recipient: mail.recipient,
        params: mail.params,
        secret: mail.secret ?? null,
        expiresAt: mail.expiresAt ?? null,
      });
    },

    /** Up to `limit` due mails, oldest due first; rows another sender holds are skipped, not waited for. */
    async claim(limit: number, leaseMs: number): Promise<ClaimedMail[]> {
      const result = await db.execute<{
        id: string;
        template: string;
        recipient: string;
        params: Record<string, string | number>;
        secret: Buffer | null;
        attempts: number;
        expires_at: Date | string | null;
      }>(sql`
        UPDATE ${mailQueue} SET attempts = attempts + 1, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
        WHERE id IN (
          SELECT id FROM ${mailQueue} WHERE next_attempt_at <= now()
          ORDER BY next_attempt_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
        )
        RETURNING id, template, recipient, params, secret, attempts, expires_at`);
      return result.rows.map((row) => ({
        id: Number(row.id),
        template: row.template,
        recipient: row.recipient,
        params: row.params,
        secret: row.secret ?? undefined,
        attempts: row.attempts,
        expiresAt: row.expires_at === null ? undefined : new Date(row.expires_at),
      }));
    },

    /** Sent, given up or expired: the row (and the token it holds) goes. */
    async remove(id: number): Promise<void> {
      await db.delete(mailQueue).where(eq(mailQueue.id, id));
    },

    /** A failed attempt: the next one in `delayMs`. Only while this sender's claim holds (attempts unchanged). */
    async retryLater(id: number, attempts: number, delayMs: number): Promise<void> {
      await db
        .update(mailQueue)
        .set({ nextAttemptAt: sql`now() + ${delayMs} * interval '1 millisecond'` })
        .where(and(eq(mailQueue.id, id), eq(mailQueue.attempts, attempts)));
    },
  };
}

export type MailQueueRepository = ReturnType<typeof createMailQueueRepository>;
