import { and, asc, eq, gt, ilike, isNull, or, sql } from 'drizzle-orm';
import { postgresError, UNIQUE_VIOLATION } from '../../db/errors.js';
import type { Database, Executor } from '../../db/pool.js';
import { authSessions, users } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import { loginName, storedEmail } from './login-names.js';
import type { Role, User } from './schemas.js';

/** Columns of a user as the API shows them (never the hash). */
export const userColumns = {
  id: users.id,
  username: users.username,
  email: users.email,
  role: users.role,
  is_active: users.isActive,
  email_verified: users.emailVerified,
  created_at: users.createdAt,
  updated_at: users.updatedAt,
};

/** With the credentials version the hash belongs to (see createSession). */
export type UserWithHash = User & { hashed_password: string; credentials_version: number };

export class DuplicateUserError extends Error {
  constructor(readonly field: 'username' | 'email') {
    super(`${field} already registered`);
  }
}

/** Turns a unique violation on users into a DuplicateUserError naming the field. */
function rethrowDuplicate(err: unknown): never {
  const pgErr = postgresError(err);
  if (pgErr?.code === UNIQUE_VIOLATION) {
    throw new DuplicateUserError(pgErr.constraint === 'users_email_key' ? 'email' : 'username');
  }
  throw err;
}

export interface UserFilter {
  role?: Role | undefined;
  isActive?: boolean | undefined;
  q?: string | undefined;
  limit: number;
  offset: number;
  /** Keyset paging (a cursor request): `afterId` is the previous page's last id (absent: the first page). */
  keyset?: { afterId?: number | undefined } | undefined;
}

/** A user before and after a change of role or activity. */
export interface UserChange {
  before: User;
  after: User;
}

export interface AdminChange {
  role?: Role | undefined;
  isActive?: boolean | undefined;
}

export function createUsersRepository(db: Database) {
  const withHash = { ...userColumns, hashed_password: users.hashedPassword, credentials_version: users.credentialsVersion };

  return {
    /** `tx`: the unit of work's transaction, where its event goes too. */
    async insert(tx: Executor, input: { username: string; email: string; hashedPassword: string; role?: Role }): Promise<User> {
      const values = { ...input, email: storedEmail(input.email) };
      try {
        const [user] = await tx.insert(users).values(values).returning(userColumns);
        return user as User;
      } catch (err) {
        rethrowDuplicate(err);
      }
    },

    async findById(id: number): Promise<User | undefined> {
      const [user] = await db.select(userColumns).from(users).where(eq(users.id, id));
      return user;
    },

    async findWithHash(id: number): Promise<UserWithHash | undefined> {
      const [user] = await db.select(withHash).from(users).where(eq(users.id, id));
      return user;
    },

    async findByUsername(username: string): Promise<User | undefined> {
      const [user] = await db.select(userColumns).from(users).where(sql`lower(${users.username}) = lower(${username})`);
      return user;
    },

    /**
     * Login accepts the username or the email, folded by registration's rule (login-names.ts): a
     * name registration would refuse matches no account.
     */
    async findByLogin(login: string): Promise<UserWithHash | undefined> {
      const name = loginName(login);
      if (!name) return undefined;
      const [user] = await db
        .select(withHash)
        .from(users)
        .where('username' in name ? sql`lower(${users.username}) = ${name.username}` : eq(users.email, name.email));
      return user;
    },

    /** A page and the total; a keyset page (ordered by id, as every page) also tells whether more follow. */
    async list(filter: UserFilter): Promise<{ items: User[]; total: number; lastId?: number | undefined }> {
      const where = and(
        filter.role === undefined ? undefined : eq(users.role, filter.role),
        filter.isActive === undefined ? undefined : eq(users.isActive, filter.isActive),
        filter.q ? or(ilike(users.username, likePattern(filter.q)), ilike(users.email, likePattern(filter.q))) : undefined,
      );
      if (filter.keyset) {
        const afterId = filter.keyset.afterId;
        // One row more than the page, to know whether a next page exists; the total counts the filters apart.
        const rows = await db
          .select({ ...userColumns, total: db.$count(users, where).mapWith(Number) })
          .from(users)
          .where(and(where, afterId === undefined ? undefined : gt(users.id, afterId)))
          .orderBy(asc(users.id))
          .limit(filter.limit + 1);
        const page = rows.slice(0, filter.limit).map(({ total: _, ...user }) => user);
        const total = rows[0]?.total ?? (await db.$count(users, where));
        return { items: page, total, lastId: rows.length > filter.limit ? page[page.length - 1]?.id : undefined };
      }
      const rows = await db
        .select({ ...userColumns, total: sql<number>`count(*) over ()`.mapWith(Number) })
        .from(users)
        .where(where)
        .orderBy(asc(users.id))
        .limit(filter.limit)
        .offset(filter.offset);
      if (rows.length === 0 && filter.offset > 0) {
        const [counted] = await db
          .select({ total: sql<number>`count(*)`.mapWith(Number) })
          .from(users)
          .where(where);
        return { items: [], total: counted?.total ?? 0 };
      }
      return { items: rows.map(({ total: _, ...user }) => user), total: rows[0]?.total ?? 0 };
    },

    /**
     * Changes role and activity, refusing to leave no active admin. The active admins are locked
     * first, so two admins demoting each other at once cannot both succeed. `tx`: a transaction (the
     * unit of work's), which holds the locks. The state before the change tells which events it makes.
     */
    async changeRoleOrActivity(tx: Executor, id: number, change: AdminChange): Promise<UserChange | 'last_admin' | undefined> {
      const admins = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.isActive, true)))
        .orderBy(asc(users.id))
        // NO KEY UPDATE, as the UPDATE itself takes: it serialises changes of roles and activity, but not
        // against a login's session insert, whose foreign key holds KEY SHARE on the user's row.
        .for('no key update');
      const losesAdmin = (change.role !== undefined && change.role !== 'admin') || change.isActive === false;
      if (losesAdmin && admins.length <= 1 && admins.some((a) => a.id === id)) return 'last_admin';
      const [before] = await tx.select(userColumns).from(users).where(eq(users.id, id)).for('no key update');
      if (!before) return undefined;
      const [user] = await tx
        .update(users)
        .set({
          ...(change.role === undefined ? {} : { role: change.role }),
          ...(change.isActive === undefined ? {} : { isActive: change.isActive }),
        })
        .where(eq(users.id, id))
        .returning(userColumns);
      return user && { before, after: user };
    },

    /**
     * A new password moves the credentials version on (trigger), which ends every login made before;
     * `keep` (the login making the change, which proved the password at `keep.credentialsVersion`)
     * is carried to the new version in the same transaction, so it alone survives. `tx`: a
     * transaction (the unit of work's), which makes the two one change.
     */
    async updateCredentials(
      tx: Executor,
      id: number,
      change: { email?: string | undefined; hashedPassword?: string | undefined },
      keep?: { sessionId: string; credentialsVersion: number },
    ): Promise<User> {
      try {
        const [user] = await tx
          .update(users)
          .set({
            // A new address is unverified until its link is followed (the same address again changes nothing).
            ...(change.email === undefined
              ? {}
              : {
                  email: storedEmail(change.email),
                  emailVerified: sql`${users.emailVerified} AND ${users.email} = ${storedEmail(change.email)}`,
                }),
            ...(change.hashedPassword === undefined ? {} : { hashedPassword: change.hashedPassword }),
          })
          .where(eq(users.id, id))
          .returning({ ...userColumns, credentialsVersion: users.credentialsVersion });
        const { credentialsVersion, ...updated } = user as User & { credentialsVersion: number };
        if (keep && change.hashedPassword !== undefined) {
          await tx
            .update(authSessions)
            .set({ credentialsVersion })
            .where(
              and(
                eq(authSessions.id, keep.sessionId),
                eq(authSessions.userId, id),
                eq(authSessions.credentialsVersion, keep.credentialsVersion),
                isNull(authSessions.revokedAt),
              ),
            );
        }
        return updated;
      } catch (err) {
        rethrowDuplicate(err);
      }
    },

    /** Makes an existing user an active admin; `tx`: a transaction (the unit of work's). Undefined: no such user. */
    async promote(tx: Executor, id: number): Promise<UserChange | undefined> {
      const [before] = await tx.select(userColumns).from(users).where(eq(users.id, id)).for('no key update');
      if (!before) return undefined;
      const [after] = await tx
        .update(users)
        .set({ role: 'admin', isActive: true })
        .where(eq(users.id, id))
        .returning(userColumns);
      return after && { before, after };
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
