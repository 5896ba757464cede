import { primaryReads, type ReadRouter } from '../../db/read-router.js';
import { conflict, forbidden, invalidField, notFound } from '../../lib/errors.js';
import { pageOf } from '../../lib/pagination.js';
import { noPasswordAttempts, type PasswordAttempts } from '../auth/attempts.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { AuthRepository } from '../auth/repository.js';
import type { Actor, Events, EventsOf } from '../events/events.js';
import { userChangeEvents, userRegistered } from './events.js';
import { DuplicateUserError, type UserChange, type UsersRepository } from './repository.js';
import type { User, UserAdminUpdate, UserListQuery, UserSelfUpdate } from './schemas.js';

const USER_NOT_FOUND = 'User not found';

export interface AdminAccount {
  username: string;
  email: string;
  password: string;
}

export function createUsersService(deps: {
  users: UsersRepository;
  auth: AuthRepository;
  passwords: PasswordHasher;
  /** Routes an admin's lag-tolerant reads (user lists, a user); everything else uses `users`, the primary's. */
  reads?: ReadRouter<UsersRepository>;
  /** Present when events are on: role and activity changes, and admins created here, record their events. */
  events?: Pick<Events, 'wake'> | undefined;
  /** The budget logins spend too: a wrong current_password is a guess like a wrong login (none: unlimited). */
  attempts?: PasswordAttempts;
}) {
  const { users, auth, passwords, events } = deps;
  const attempts = deps.attempts ?? noPasswordAttempts;
  const reads = deps.reads ?? primaryReads(users);
  const changeEvents = (actor: Actor | null): EventsOf<UserChange> | undefined =>
    events && ((change) => userChangeEvents(actor, change));
  const committed = <T>(result: T): T => {
    events?.wake();
    return result;
  };

  const duplicateAsConflict = (err: unknown): never => {
    if (err instanceof DuplicateUserError) {
      throw conflict(err.field === 'email' ? 'Email already registered' : 'Username already registered');
    }
    throw err;
  };

  return {
    /** `readerId`: the admin asking, whose own writes the answer must show. */
    list: (readerId: number, query: UserListQuery) =>
      reads.run(readerId, (repository) =>
        repository.list({ role: query.role, isActive: query.is_active, q: query.q, ...pageOf(query) }),
      ),

    async get(readerId: number, id: number): Promise<User> {
      const user = await reads.run(readerId, (repository) => repository.findById(id));
      if (!user) throw notFound(USER_NOT_FOUND);
      return user;
    },

    /** Role and activity are read per request, so the change applies to the user's very next request everywhere. */
    async adminUpdate(actor: Actor, id: number, change: UserAdminUpdate): Promise<User> {
      const result = committed(
        await users.changeRoleOrActivity(id, { role: change.role, isActive: change.is_active }, changeEvents(actor)),
      );
      if (result === undefined) throw notFound(USER_NOT_FOUND);
      if (result === 'last_admin') throw conflict('Cannot demote or deactivate the last active admin');
      // A deactivated account's logins end for good: reactivation must not revive old tokens.
      if (change.is_active === false) await auth.revokeOtherSessions(id, undefined, 'deactivated');
      return result;
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
      const attempt = await attempts.begin(`user:${userId}`, client);
      if (!(await passwords.verify(change.current_password, current.hashed_password))) {
        throw forbidden('Current password is incorrect');
      }
      await attempt.succeeded();
      const hashedPassword = change.password === undefined ? undefined : await passwords.hash(change.password);
      // This login proved the password at current.credentials_version: it is kept across the change.
      const keep = { sessionId, credentialsVersion: current.credentials_version };
      const updated = await users
        .updateCredentials(userId, { email: change.email, hashedPassword }, keep)
        .catch(duplicateAsConflict);
      if (hashedPassword) await auth.revokeOtherSessions(userId, sessionId, 'password_changed');
      return updated;
    },

    /**
     * Creates an admin, or (with `promote`) makes the user with that username an active admin.
     * The password is only used when creating; an existing user's password is left alone.
     */
    async ensureAdmin(
      account: AdminAccount,
      options: { promote: boolean },
    ): Promise<{ user: User; action: 'created' | 'promoted' | 'unchanged' }> {
      const existing = await users.findByUsername(account.username);
      if (existing) {
        if (!options.promote || (existing.role === 'admin' && existing.is_active)) return { user: existing, action: 'unchanged' };
        return { user: committed(await users.promote(existing.id, changeEvents(null))), action: 'promoted' };
      }
      const hashedPassword = await passwords.hash(account.password);
      const registered: EventsOf<User> | undefined = events && ((user) => [userRegistered(null, user)]);
      const user = await users
        .insert({ username: account.username, email: account.email, hashedPassword, role: 'admin' }, registered)
        .catch(duplicateAsConflict);
      return { user: committed(user), action: 'created' };
    },
  };
}
