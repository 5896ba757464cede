import type { Executor } from '../../db/pool.js';
import { primaryReads, type ReadRouter } from '../../db/read-router.js';
import type { Cursors } from '../../lib/cursor.js';
import { conflict, forbidden, invalidField, notFound } from '../../lib/errors.js';
import { pageOf } from '../../lib/pagination.js';
import type { VerificationMails } from '../email-verification/service.js';
import type { Actor } from '../events/events.js';
import type { UnitOfWork } from '../events/unit-of-work.js';
import { userChangeEvents, userRegistered } from './events.js';
import { accountKey, noPasswordAttempts, type PasswordAttempts } from './password-attempts.js';
import type { PasswordHasher } from './passwords.js';
import { DuplicateUserError, type UsersRepository } from './repository.js';
import type { NewAccount, User, UserAdminUpdate, UserListQuery, UserSelfUpdate } from './schemas.js';

const USER_NOT_FOUND = 'User not found';

/**
 * What the users service needs of sessions, declared here so that users depends on no module built on
 * it (the sessions module's repository fills it). `tx`: the unit of work's transaction.
 */
export interface SessionRevocation {
  revokeOtherSessions(tx: Executor, userId: number, keep: string | undefined, reason: string): Promise<void>;
}

export function createUsersService(deps: {
  users: UsersRepository;
  /** Ends a user's logins: all of them on deactivation, all but the one making it on a password change. */
  sessions: SessionRevocation;
  passwords: PasswordHasher;
  /** Routes an admin's lag-tolerant reads (user lists, a user); everything else uses `users`, the primary's. */
  reads?: ReadRouter<UsersRepository>;
  /** Role and activity changes (with the revocations they cause), credential changes and admins created here run in it. */
  unitOfWork: UnitOfWork;
  /** The budget logins spend too: a wrong current_password is a guess like a wrong login (none: unlimited). */
  attempts?: PasswordAttempts;
  /** The user list's cursors (keyset paging); only the API's service lists users (create-admin does not). */
  cursors?: Cursors;
  /** A new email gets a verification mail (none: no mail, as for create-admin). */
  verification?: VerificationMails;
}) {
  const { users, sessions, passwords, unitOfWork } = deps;
  const attempts = deps.attempts ?? noPasswordAttempts;
  const reads = deps.reads ?? primaryReads(users);

  const duplicateAsConflict = (err: unknown): never => {
    if (err instanceof DuplicateUserError) {
      throw conflict(err.field === 'email' ? 'Email already registered' : 'Username already registered');
    }
    throw err;
  };

  return {
    /** `readerId`: the admin asking, whose own writes the answer must show. */
    /** With `cursor` (keyset paging by id) also the next page's cursor, when there is one. */
    async list(readerId: number, query: UserListQuery): Promise<{ items: User[]; total: number; next?: string | undefined }> {
      const filter = { role: query.role, isActive: query.is_active, q: query.q, ...pageOf(query) };
      if (query.cursor === undefined || !deps.cursors) return reads.run(readerId, (repository) => repository.list(filter));
      const cursors = deps.cursors;
      const filters = { role: query.role, isActive: query.is_active, q: query.q };
      const afterId = query.cursor === '' ? undefined : cursors.decode(query.cursor, 'id', false, filters).id;
      const page = await reads.run(readerId, (repository) => repository.list({ ...filter, offset: 0, keyset: { afterId } }));
      const next =
        page.lastId === undefined
          ? undefined
          : cursors.encode({ sort: 'id', descending: false, value: null, id: page.lastId }, filters);
      return { items: page.items, total: page.total, next };
    },

    async get(readerId: number, id: number): Promise<User> {
      const user = await reads.run(readerId, (repository) => repository.findById(id));
      if (!user) throw notFound(USER_NOT_FOUND);
      return user;
    },

    /** Role and activity are read per request, so the change applies to the user's very next request everywhere. */
    async adminUpdate(actor: Actor, id: number, change: UserAdminUpdate): Promise<User> {
      const result = await unitOfWork.run(async (work) => {
        const outcome = await users.changeRoleOrActivity(work.db, id, { role: change.role, isActive: change.is_active });
        if (typeof outcome !== 'object') return outcome;
        await work.record(() => userChangeEvents(actor, outcome));
        // A deactivated account's logins end for good: reactivation must not revive old tokens.
        if (change.is_active === false) await sessions.revokeOtherSessions(work.db, id, undefined, 'deactivated');
        return outcome;
      });
      if (result === undefined) throw notFound(USER_NOT_FOUND);
      if (result === 'last_admin') throw conflict('Cannot demote or deactivate the last active admin');
      return result.after;
    },

    /**
     * A user changes their own email or password; both need the current password (403 if wrong,
     * spending an attempt of the account's login budget; 429 once it is spent). `client`: the
     * sender's rate-limit address.
     */
    async updateSelf(userId: number, sessionId: string, change: UserSelfUpdate, client: string): Promise<User> {
      if (change.email === undefined && change.password === undefined) {
        throw invalidField('email', 'send email or password (or both) to change');
      }
      const current = await users.findWithHash(userId);
      if (!current) throw notFound(USER_NOT_FOUND);
      const attempt = await attempts.begin(accountKey(userId), client);
      if (!(await passwords.verify(change.current_password, current.hashed_password))) {
        throw forbidden('Current password is incorrect');
      }
      await attempt.succeeded();
      const hashedPassword = change.password === undefined ? undefined : await passwords.hash(change.password);
      // This login proved the password at current.credentials_version: it is kept across the change.
      const keep = { sessionId, credentialsVersion: current.credentials_version };
      // The new credentials and the end of the other logins commit together.
      const updated = await unitOfWork
        .run(async (work) => {
          const updated = await users.updateCredentials(work.db, userId, { email: change.email, hashedPassword }, keep);
          if (hashedPassword) await sessions.revokeOtherSessions(work.db, userId, sessionId, 'password_changed');
          // A new address is unverified: its link goes to it (the same address again mails nothing).
          if (change.email !== undefined && updated.email !== current.email) await deps.verification?.queue(work.db, updated);
          return updated;
        })
        .catch(duplicateAsConflict);
      if (updated.email !== current.email) deps.verification?.sent();
      return updated;
    },

    /**
     * Creates an admin, or (with `promote`) makes the user with that username an active admin.
     * The password is only used when creating; an existing user's password is left alone.
     */
    async ensureAdmin(
      account: NewAccount,
      options: { promote: boolean },
    ): Promise<{ user: User; action: 'created' | 'promoted' | 'unchanged' }> {
      const existing = await users.findByUsername(account.username);
      if (existing) {
        if (!options.promote || (existing.role === 'admin' && existing.is_active)) return { user: existing, action: 'unchanged' };
        const promoted = await unitOfWork.run(async (work) => {
          const change = await users.promote(work.db, existing.id);
          if (change) await work.record(() => userChangeEvents(null, change));
          return change?.after;
        });
        return { user: promoted as User, action: 'promoted' };
      }
      const hashedPassword = await passwords.hash(account.password);
      const user = await unitOfWork
        .run(async (work) => {
          const created = await users.insert(work.db, {
            username: account.username,
            email: account.email,
            hashedPassword,
            role: 'admin',
          });
          await work.record(() => [userRegistered(null, created)]);
          return created;
        })
        .catch(duplicateAsConflict);
      return { user, action: 'created' };
    },
  };
}
