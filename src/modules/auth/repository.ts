import { createHash } from 'node:crypto';
import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { authSessions, refreshTokens, users } from '../../db/schema.js';
import { userColumns } from '../users/repository.js';
import type { User } from '../users/schemas.js';

const digest = (token: string) => createHash('sha256').update(token).digest();

export type RefreshOutcome = { kind: 'rotated'; userId: number; sessionId: string } | { kind: 'invalid' } | { kind: 'reused' };

export function createAuthRepository(db: Database) {
  // The per-request check: one indexed round trip answers "is this login still valid, and who is it?".
  const sessionUser = db
    .select(userColumns)
    .from(authSessions)
    .innerJoin(users, eq(users.id, authSessions.userId))
    .where(
      and(
        eq(authSessions.id, sql.placeholder('sessionId')),
        eq(authSessions.userId, sql.placeholder('userId')),
        isNull(authSessions.revokedAt),
      ),
    )
    .prepare('auth_session_user');

  return {
    async findSessionUser(sessionId: string, userId: number): Promise<User | undefined> {
      const [user] = await sessionUser.execute({ sessionId, userId });
      return user;
    },

    /** A new login: a session and its first refresh token, in one transaction. */
    async createSession(userId: number, refreshToken: string, ttlDays: number): Promise<string> {
      return db.transaction(async (tx) => {
        const expiresAt = sql`now() + make_interval(days => ${ttlDays})`;
        const [session] = await tx.insert(authSessions).values({ userId, expiresAt }).returning({ id: authSessions.id });
        const sessionId = (session as { id: string }).id;
        await tx.insert(refreshTokens).values({ sessionId, tokenHash: digest(refreshToken), expiresAt });
        return sessionId;
      });
    },

    /**
     * Spends a refresh token and issues its successor. A token spent twice means it leaked:
     * the whole session (every token descended from that login) is revoked.
     */
    async rotate(presented: string, next: string, ttlDays: number): Promise<RefreshOutcome> {
      return db.transaction(async (tx) => {
        const [row] = await tx
          .select({
            id: refreshTokens.id,
            sessionId: refreshTokens.sessionId,
            usedAt: refreshTokens.usedAt,
            expired: sql<boolean>`${refreshTokens.expiresAt} <= now()`,
            revokedAt: authSessions.revokedAt,
            userId: users.id,
            isActive: users.isActive,
          })
          .from(refreshTokens)
          .innerJoin(authSessions, eq(authSessions.id, refreshTokens.sessionId))
          .innerJoin(users, eq(users.id, authSessions.userId))
          .where(eq(refreshTokens.tokenHash, digest(presented)))
          .for('update', { of: refreshTokens });
        if (!row || row.revokedAt || row.expired || !row.isActive) return { kind: 'invalid' };
        if (row.usedAt) {
          await tx
            .update(authSessions)
            .set({ revokedAt: sql`now()`, revokedReason: 'refresh_token_reuse' })
            .where(and(eq(authSessions.id, row.sessionId), isNull(authSessions.revokedAt)));
          return { kind: 'reused' };
        }
        const expiresAt = sql`now() + make_interval(days => ${ttlDays})`;
        await tx.update(refreshTokens).set({ usedAt: sql`now()` }).where(eq(refreshTokens.id, row.id));
        await tx.insert(refreshTokens).values({ sessionId: row.sessionId, tokenHash: digest(next), expiresAt });
        await tx.update(authSessions).set({ expiresAt }).where(eq(authSessions.id, row.sessionId));
        return { kind: 'rotated', userId: row.userId, sessionId: row.sessionId };
      });
    },

    async revokeSession(sessionId: string, reason: string): Promise<void> {
      await db
        .update(authSessions)
        .set({ revokedAt: sql`now()`, revokedReason: reason })
        .where(and(eq(authSessions.id, sessionId), isNull(authSessions.revokedAt)));
    },

    /** Deletes logins that expired more than a day ago (with their refresh tokens, by cascade). */
    async pruneExpiredSessions(): Promise<number> {
      const result = await db.delete(authSessions).where(sql`${authSessions.expiresAt} < now() - interval '1 day'`);
      return result.rowCount ?? 0;
    },

    /** Revokes every session of a user except `keep` (used when the password changes). */
    async revokeOtherSessions(userId: number, keep: string | undefined, reason: string): Promise<void> {
      await db
        .update(authSessions)
        .set({ revokedAt: sql`now()`, revokedReason: reason })
        .where(
          and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt), keep ? ne(authSessions.id, keep) : undefined),
        );
    },
  };
}

export type AuthRepository = ReturnType<typeof createAuthRepository>;
