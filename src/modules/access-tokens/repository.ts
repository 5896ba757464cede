import { and, desc, eq, gt, ne, sql } from 'drizzle-orm';
import type { TokenScope } from '../../db/enums.js';
import type { Database } from '../../db/pool.js';
import { deleteExpired } from '../../db/prune.js';
import { personalAccessTokens as tokens, users } from '../../db/schema.js';
import type { AccessToken } from './schemas.js';

/** Columns of a token as its owner sees it (never the digest). */
const tokenColumns = {
  id: tokens.id,
  name: tokens.name,
  prefix: tokens.prefix,
  scopes: sql<TokenScope[]>`${tokens.scopes}`,
  created_at: tokens.createdAt,
  last_used_at: tokens.lastUsedAt,
  expires_at: tokens.expiresAt,
};

/** Live: not expired, and made with the credentials the account still has (see the per-request lookup in sessions). */
const live = sql`(${tokens.expiresAt} > now() AND ${tokens.credentialsVersion} = (SELECT ${users.credentialsVersion} FROM ${users} WHERE ${users.id} = ${tokens.userId}))`;

export interface NewToken {
  name: string;
  scopes: TokenScope[];
  hash: Buffer;
  prefix: string;
  expiresInDays: number;
}

export type CreateOutcome = { kind: 'created'; token: AccessToken } | { kind: 'duplicate' } | { kind: 'limit' };

/** Personal access tokens, by owner; the per-request lookup by digest is the sessions repository's. */
export function createAccessTokensRepository(db: Database) {
  return {
    /**
     * Stores a token at the account's current credentials version, unless the account already has
     * `max` live tokens or one of that name. The account's row is locked (FOR NO KEY UPDATE, which
     * leaves its other rows' inserts alone), so two creates cannot both take the last place; the
     * account's dead tokens are deleted first, so they hold neither a place nor a name.
     */
    async create(userId: number, token: NewToken, max: number): Promise<CreateOutcome> {
      return db.transaction(async (tx) => {
        const [user] = await tx
          .select({ credentialsVersion: users.credentialsVersion })
          .from(users)
          .where(eq(users.id, userId))
          .for('no key update');
        if (!user) return { kind: 'limit' };
        await tx
          .delete(tokens)
          .where(
            and(
              eq(tokens.userId, userId),
              sql`(${tokens.expiresAt} <= now() OR ${ne(tokens.credentialsVersion, user.credentialsVersion)})`,
            ),
          );
        const [held] = await tx.select({ n: sql<number>`count(*)::int` }).from(tokens).where(eq(tokens.userId, userId));
        if ((held?.n ?? 0) >= max) return { kind: 'limit' };
        const [created] = await tx
          .insert(tokens)
          .values({
            userId,
            name: token.name,
            tokenHash: token.hash,
            prefix: token.prefix,
            scopes: token.scopes,
            credentialsVersion: user.credentialsVersion,
            expiresAt: sql`now() + make_interval(days => ${token.expiresInDays})`,
          })
          .onConflictDoNothing({ target: [tokens.userId, tokens.name] })
          .returning(tokenColumns);
        return created ? { kind: 'created', token: created } : { kind: 'duplicate' };
      });
    },

    /** The account's live tokens, newest first. */
    async list(userId: number): Promise<AccessToken[]> {
      return db
        .select(tokenColumns)
        .from(tokens)
        .where(and(eq(tokens.userId, userId), live))
        .orderBy(desc(tokens.createdAt), desc(tokens.id));
    },

    /** Deletes one of the account's live tokens: false when it has none of that id. */
    async remove(userId: number, id: number): Promise<boolean> {
      const deleted = await db
        .delete(tokens)
        .where(and(eq(tokens.id, id), eq(tokens.userId, userId), live))
        .returning({ id: tokens.id });
      return deleted.length > 0;
    },

    /** Expired tokens, and those a password change or a deactivation ended (the maintenance job). */
    async pruneExpired(): Promise<number> {
      const expired = await deleteExpired(db, tokens, tokens.expiresAt);
      const ended = await db
        .delete(tokens)
        .where(
          and(
            gt(tokens.expiresAt, sql`now()`),
            sql`${tokens.credentialsVersion} <> (SELECT ${users.credentialsVersion} FROM ${users} WHERE ${users.id} = ${tokens.userId})`,
          ),
        );
      return expired + (ended.rowCount ?? 0);
    },
  };
}

export type AccessTokensRepository = ReturnType<typeof createAccessTokensRepository>;
