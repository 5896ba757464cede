import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { deleteExpired } from '../../db/prune.js';
import { passwordResetTokens, users } from '../../db/schema.js';

/** Live: not used, not expired, and its account active. */
const live = (tokenHash: Buffer) =>
  and(
    eq(passwordResetTokens.tokenHash, tokenHash),
    isNull(passwordResetTokens.usedAt),
    gt(passwordResetTokens.expiresAt, sql`now()`),
    eq(users.id, passwordResetTokens.userId),
    eq(users.isActive, true),
  );

/** Password reset tokens, by their SHA-256 digest (the token itself is never stored). */
export function createPasswordResetRepository(db: Database) {
  return {
    /**
     * Voids the account's live tokens and stores the new one, in the request's transaction. Without an
     * account (an unknown address, a deactivated account) the same delete runs and matches nothing,
     * so both answers cost about the same database work.
     */
    async issue(tx: Executor, userId: number | undefined, tokenHash: Buffer, ttlMinutes: number): Promise<void> {
      await tx
        .delete(passwordResetTokens)
        .where(and(eq(passwordResetTokens.userId, userId ?? 0), isNull(passwordResetTokens.usedAt)));
      if (userId === undefined) return;
      await tx.insert(passwordResetTokens).values({
        userId,
        tokenHash,
        expiresAt: sql`now() + ${ttlMinutes} * interval '1 minute'`,
      });
    },

    /** The account of a live token, or undefined: a read before the password is hashed (spend decides). */
    async findLive(tokenHash: Buffer): Promise<number | undefined> {
      const [row] = await db
        .select({ userId: passwordResetTokens.userId })
        .from(passwordResetTokens)
        .innerJoin(users, eq(users.id, passwordResetTokens.userId))
        .where(live(tokenHash));
      return row?.userId;
    },

    /**
     * Marks a live token used and voids the account's other live tokens, in the confirm's transaction;
     * the account it belongs to, or undefined when it is not live (used, expired, voided, unknown, or
     * its account deactivated). Of two confirms racing with one token, one marks it; the other finds none.
     */
    async spend(tx: Executor, tokenHash: Buffer): Promise<number | undefined> {
      const [row] = await tx
        .update(passwordResetTokens)
        .set({ usedAt: sql`now()` })
        .from(users)
        .where(live(tokenHash))
        .returning({ userId: passwordResetTokens.userId });
      if (!row) return undefined;
      await tx
        .delete(passwordResetTokens)
        .where(and(eq(passwordResetTokens.userId, row.userId), isNull(passwordResetTokens.usedAt)));
      return row.userId;
    },

    /** Expired tokens, used or not (the maintenance job). */
    pruneExpired: (): Promise<number> => deleteExpired(db, passwordResetTokens, passwordResetTokens.expiresAt),
  };
}

export type PasswordResetRepository = ReturnType<typeof createPasswordResetRepository>;
