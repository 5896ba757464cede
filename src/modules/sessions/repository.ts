import { createHash } from 'node:crypto';
import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { authSessions, refreshTokens, users } from '../../db/schema.js';
import { userColumns } from '../users/repository.js';
import type { User } from '../users/schemas.js';

const digest = (token: string) => createHash('sha256').update(token).digest();

export type RefreshOutcome = { kind: 'rotated'; userId: number; sessionId: string } | { kind: 'invalid' } | { kind: 'reused' };

/** Logins (sessions) and their refresh tokens: what the per-request check and the login flows read and write. */
export function createSessionsRepository(db: Database) {
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
        // A login made with credentials that have since changed (password, deactivation) is dead.
        eq(authSessions.credentialsVersion, users.credentialsVersion),
      ),
    )
    .prepare('auth_session_user');

  return {
    async findSessionUser(sessionId: string, userId: number): Promise<User | undefined> {
      const [user] = await sessionUser.execute({ sessionId, userId });
      return user;
    },

    /**
     * Which of these logins are still valid, in one query (the live streams' re-check): the same
     * rule as findSessionUser (not revoked, credentials unchanged) with an active user and a session
     * not yet expired. Returns the valid session ids.
     */
    async liveSessions(logins: ReadonlyArray<{ sessionId: string; userId: number }>): Promise<Set<string>> {
      if (logins.length === 0) return new Set();
      const { rows } = await db.execute<{ id: string }>(sql`
        SELECT s.id FROM unnest(${`{${logins.map((l) => l.sessionId).join(',')}}`}::uuid[], ${`{${logins.map((l) => l.userId).join(',')}}`}::bigint[]) AS l(session_id, user_id)
        JOIN ${authSessions} s ON s.id = l.session_id AND s.user_id = l.user_id
        JOIN ${users} u ON u.id = s.user_id
        WHERE s.revoked_at IS NULL AND s.expires_at > now() AND s.credentials_version = u.credentials_version AND u.is_active`);
      return new Set(rows.map((r) => r.id));
    },

    /**
     * A new login: a session and its first refresh token, in one transaction. The session records
     * the credentials version the login checked the password against, and only if it is still the
     * user's (and the user still active): undefined when the password changed or the account was
     * deactivated since. A change committing after this insert moves the version on, which ends
     * the session as well (findSessionUser, rotate).
     */
    async createSession(
      userId: number,
      credentialsVersion: number,
      refreshToken: string,
      ttlDays: number,
    ): Promise<string | undefined> {
      return db.transaction(async (tx) => {
        const expiresAt = sql`now() + make_interval(days => ${ttlDays})`;
        const { rows } = await tx.execute<{ id: string }>(sql`
          INSERT INTO ${authSessions} (${sql.identifier(authSessions.userId.name)}, ${sql.identifier(authSessions.expiresAt.name)}, ${sql.identifier(authSessions.credentialsVersion.name)})
          SELECT ${users.id}, ${expiresAt}, ${users.credentialsVersion} FROM ${users}
          WHERE ${users.id} = ${userId} AND ${users.credentialsVersion} = ${credentialsVersion} AND ${users.isActive}
          RETURNING ${sql.identifier(authSessions.id.name)}`);
        const sessionId = rows[0]?.id;
        if (sessionId === undefined) return undefined;
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
            current: sql<boolean>`${authSessions.credentialsVersion} = ${users.credentialsVersion}`,
          })
          .from(refreshTokens)
          .innerJoin(authSessions, eq(authSessions.id, refreshTokens.sessionId))
          .innerJoin(users, eq(users.id, authSessions.userId))
          .where(eq(refreshTokens.tokenHash, digest(presented)))
          .for('update', { of: refreshTokens });
        if (!row || row.revokedAt || row.expired || !row.isActive || !row.current) return { kind: 'invalid' };
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

    /**
     * Revokes every session of a user except `keep` (a password change, a deactivation). `tx`: the
     * unit of work's transaction, so the revocation commits with the change that causes it.
     */
    async revokeOtherSessions(tx: Executor, userId: number, keep: string | undefined, reason: string): Promise<void> {
      await tx
        .update(authSessions)
        .set({ revokedAt: sql`now()`, revokedReason: reason })
        .where(
          and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt), keep ? ne(authSessions.id, keep) : undefined),
        );
    },
  };
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
