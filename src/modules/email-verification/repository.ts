import { and, eq, gt, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { deleteExpired } from '../../db/prune.js';
import { emailVerificationTokens, users } from '../../db/schema.js';

/** Email verification tokens, by their SHA-256 digest (the token itself is never stored). */
export function createEmailVerificationRepository(db: Database) {
  return {
    /** Replaces the account's tokens with one for `email`, in the transaction of the change that asks for it. */
    async issue(tx: Executor, userId: number, email: string, tokenHash: Buffer, ttlHours: number): Promise<void> {
      await tx.delete(emailVerificationTokens).where(eq(emailVerificationTokens.userId, userId));
      await tx.insert(emailVerificationTokens).values({
        userId,
        email,
        tokenHash,
        expiresAt: sql`now() + ${ttlHours} * interval '1 hour'`,
      });
    },

    /**
     * Marks the account verified with a live token whose address is still the account's (and the
     * account active), and deletes the token: true if it did. A token for an address the account has
     * since left, an expired, used or unknown one verifies nothing.
     */
    async spend(tx: Executor, tokenHash: Buffer): Promise<boolean> {
      const [token] = await tx
        .delete(emailVerificationTokens)
        .where(and(eq(emailVerificationTokens.tokenHash, tokenHash), gt(emailVerificationTokens.expiresAt, sql`now()`)))
        .returning({ userId: emailVerificationTokens.userId, email: emailVerificationTokens.email });
      if (!token) return false;
      const verified = await tx
        .update(users)
        .set({ emailVerified: true })
        .where(and(eq(users.id, token.userId), eq(users.email, token.email), eq(users.isActive, true)))
        .returning({ id: users.id });
      return verified.length > 0;
    },

    /** Expired tokens (the maintenance job). */
    pruneExpired: (): Promise<number> => deleteExpired(db, emailVerificationTokens, emailVerificationTokens.expiresAt),
  };
}

export type EmailVerificationRepository = ReturnType<typeof createEmailVerificationRepository>;
