import { createHash } from 'node:crypto';
import { and, desc, eq, gt, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { TokenScope } from '../../db/enums.js';
import type { Database, Executor } from '../../db/pool.js';
import { authSessions, personalAccessTokens, refreshTokens, users } from '../../db/schema.js';
import { userColumns } from '../users/repository.js';
import type { User } from '../users/schemas.js';

const digest = (token: string) => createHash('sha256').update(token).digest();

/** The user of a live personal access token, with the token's id and scopes. */
export type TokenUser = User & { tokenId: number; scopes: TokenScope[] };

export type RefreshOutcome = { kind: 'rotated'; userId: number; sessionId: string } | { kind: 'invalid' } | { kind: 'reused' };

/** How often at most a session's last_used_at is written: the per-request check touches it only when older. */
export const LAST_USED_STEP_SECONDS = 60;

/** Where a login or a refresh came from, as a session keeps it: the User-Agent (cut) and the masked address. */
export interface ClientDetails {
  userAgent: string | undefined;
  address: string | undefined;
}

/** A live session as its owner's list shows it. */
export interface SessionRow {
  id: string;
  created_at: Date;
  last_used_at: Date;
  user_agent: string | null;
  address: string | null;
}

const sessionColumns = {
  id: authSessions.id,
  created_at: authSessions.createdAt,
  last_used_at: authSessions.lastUsedAt,
  user_agent: authSessions.userAgent,
  address: authSessions.address,
};

// A session counts while it is unrevoked, unexpired and made with the user's current credentials.
const live = and(
  isNull(authSessions.revokedAt),
  gt(authSessions.expiresAt, sql`now()`),
  eq(authSessions.credentialsVersion, users.credentialsVersion),
);

/** Logins (sessions) and their refresh tokens: what the per-request check and the login flows read and write. */
export function createSessionsRepository(db: Database) {
  // The per-request check: one indexed round trip answers "is this login still valid, and who is it?".
  // It also advances last_used_at, only when that is a step old: an UPDATE matching no row writes
  // nothing, so most requests stay reads. A row locked by another transaction (a revocation, a
  // refresh) is skipped, not waited for: the touch can wait for the next request. The SELECT sees
  // the row as it was before the touch.
  const due = db
    .select({ id: authSessions.id })
    .from(authSessions)
    .where(
      and(
        eq(authSessions.id, sql.placeholder('sessionId')),
        eq(authSessions.userId, sql.placeholder('userId')),
        isNull(authSessions.revokedAt),
        lt(authSessions.lastUsedAt, sql`now() - make_interval(secs => ${sql.raw(String(LAST_USED_STEP_SECONDS))})`),
      ),
    )
    .for('update', { skipLocked: true });
  const touch = db
    .$with('touch')
    .as(
      db
        .update(authSessions)
        .set({ lastUsedAt: sql`now()` })
        .where(inArray(authSessions.id, due))
        .returning({ id: authSessions.id }),
    );
  const sessionUser = db
    .with(touch)
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

  /**
   * Revokes every session of a user except `keep` (a password change, a deactivation). `tx`: the
   * unit of work's transaction, so the revocation commits with the change that causes it.
   */
  const revokeOtherSessions = async (tx: Executor, userId: number, keep: string | undefined, reason: string) => {
    await tx
      .update(authSessions)
      .set({ revokedAt: sql`now()`, revokedReason: reason })
      .where(and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt), keep ? ne(authSessions.id, keep) : undefined));
  };

  // The same for a personal access token, by its digest: one indexed statement (the token_hash key)
  // that also records the use, at most once a minute per token. The CTE's UPDATE matches nothing
  // within the minute, so most requests write nothing; it runs whether or not the SELECT reads it.
  const tokens = personalAccessTokens;
  const liveToken = and(eq(tokens.tokenHash, sql.placeholder('hash')), gt(tokens.expiresAt, sql`now()`));
  const touched = db.$with('touched').as(
    db
      .update(tokens)
      .set({ lastUsedAt: sql`now()` })
      .where(and(liveToken, or(isNull(tokens.lastUsedAt), lt(tokens.lastUsedAt, sql`now() - interval '1 minute'`))))
      .returning({ id: tokens.id }),
  );
  const tokenUser = db
    .with(touched)
    .select({ ...userColumns, tokenId: tokens.id, scopes: tokens.scopes })
    .from(tokens)
    .innerJoin(users, eq(users.id, tokens.userId))
    .where(
      and(
        liveToken,
        eq(users.isActive, true),
        // A token made before a password change, a reset or a deactivation is dead (as a login is).
        eq(tokens.credentialsVersion, users.credentialsVersion),
      ),
    )
    .prepare('personal_access_token_user');

  return {
    async findSessionUser(sessionId: string, userId: number): Promise<User | undefined> {
      const [user] = await sessionUser.execute({ sessionId, userId });
      return user;
    },

    async findTokenUser(hash: Buffer): Promise<TokenUser | undefined> {
      const [row] = await tokenUser.execute({ hash });
      return row && { ...row, scopes: row.scopes as TokenScope[] };
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
      client: ClientDetails,
    ): Promise<string | undefined> {
      return db.transaction(async (tx) => {
        const expiresAt = sql`now() + make_interval(days => ${ttlDays})`;
        const column = (c: { name: string }) => sql.identifier(c.name);
        const { rows } = await tx.execute<{ id: string }>(sql`
          INSERT INTO ${authSessions} (${column(authSessions.userId)}, ${column(authSessions.expiresAt)}, ${column(authSessions.credentialsVersion)}, ${column(authSessions.userAgent)}, ${column(authSessions.address)})
          SELECT ${users.id}, ${expiresAt}, ${users.credentialsVersion}, ${client.userAgent ?? null}, ${client.address ?? null} FROM ${users}
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
    async rotate(presented: string, next: string, ttlDays: number, client: ClientDetails): Promise<RefreshOutcome> {
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
        // A refresh is a use, and from wherever the client is now.
        await tx
          .update(authSessions)
          .set({ expiresAt, lastUsedAt: sql`now()`, userAgent: client.userAgent ?? null, address: client.address ?? null })
          .where(eq(authSessions.id, row.sessionId));
        return { kind: 'rotated', userId: row.userId, sessionId: row.sessionId };
      });
    },

    async revokeSession(sessionId: string, reason: string): Promise<void> {
      await db
        .update(authSessions)
        .set({ revokedAt: sql`now()`, revokedReason: reason })
        .where(and(eq(authSessions.id, sessionId), isNull(authSessions.revokedAt)));
    },

    /** A user's live sessions, most recently used first, at most `limit`. */
    async listLiveSessions(userId: number, limit: number): Promise<SessionRow[]> {
      return db
        .select(sessionColumns)
        .from(authSessions)
        .innerJoin(users, eq(users.id, authSessions.userId))
        .where(and(eq(authSessions.userId, userId), live))
        .orderBy(desc(authSessions.lastUsedAt), desc(authSessions.createdAt), desc(authSessions.id))
        .limit(limit);
    },

    /** Revokes one live session of the user; false when the user has no such live session (unknown, another's, ended). */
    async revokeLiveSession(userId: number, sessionId: string, reason: string): Promise<boolean> {
      const { rowCount } = await db
        .update(authSessions)
        .set({ revokedAt: sql`now()`, revokedReason: reason })
        .from(users)
        .where(and(eq(authSessions.id, sessionId), eq(authSessions.userId, userId), eq(users.id, authSessions.userId), live));
      return (rowCount ?? 0) > 0;
    },

    /** Deletes logins that expired more than a day ago (with their refresh tokens, by cascade). */
    async pruneExpiredSessions(): Promise<number> {
      const result = await db.delete(authSessions).where(sql`${authSessions.expiresAt} < now() - interval '1 day'`);
      return result.rowCount ?? 0;
    },

    revokeOtherSessions,

    /** Revokes every session of a user except `keep`, on its own (the user ending their logins). */
    async revokeUserSessions(userId: number, keep: string | undefined, reason: string): Promise<void> {
      await revokeOtherSessions(db, userId, keep, reason);
    },
  };
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
