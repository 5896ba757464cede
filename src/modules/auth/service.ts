import { conflict, unauthorized } from '../../lib/errors.js';
import type { VerificationMails } from '../email-verification/service.js';
import type { UnitOfWork } from '../events/unit-of-work.js';
import type { ClientDetails, SessionsRepository } from '../sessions/repository.js';
import { type AccessTokens, newRefreshToken } from '../sessions/tokens.js';
import { userRegistered } from '../users/events.js';
import { loginKey } from '../users/login-names.js';
import { accountKey, noPasswordAttempts, type PasswordAttempts } from '../users/password-attempts.js';
import type { PasswordHasher } from '../users/passwords.js';
import { DuplicateUserError, type UsersRepository } from '../users/repository.js';
import type { User } from '../users/schemas.js';
import type { TokenPair } from './schemas.js';

const BAD_CREDENTIALS = 'Incorrect username or password';
const BAD_REFRESH = 'Invalid or expired refresh token';

export function createAuthService(deps: {
  users: UsersRepository;
  sessions: SessionsRepository;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  refreshTtlDays: number;
  /** A registration runs in it, with its user.registered event. */
  unitOfWork: UnitOfWork;
  /** The per-account budget of password attempts (none: unlimited). */
  attempts?: PasswordAttempts;
  /** A registration queues a verification mail to the new address (none: no mail). */
  verification?: VerificationMails;
}) {
  const { users, sessions, passwords, tokens, refreshTtlDays, unitOfWork } = deps;
  const attempts = deps.attempts ?? noPasswordAttempts;

  const pair = (userId: number, sessionId: string, refreshToken: string): TokenPair => ({
    access_token: tokens.sign(userId, sessionId),
    token_type: 'bearer',
    expires_in: tokens.expiresInSeconds,
    refresh_token: refreshToken,
  });

  return {
    async register(input: { username: string; email: string; password: string }): Promise<User> {
      const hashedPassword = await passwords.hash(input.password);
      try {
        const registered = await unitOfWork.run(async (work) => {
          const user = await users.insert(work.db, { username: input.username, email: input.email, hashedPassword });
          // Self-registration has no authenticated actor.
          await work.record(() => [userRegistered(null, user)]);
          await deps.verification?.queue(work.db, user);
          return user;
        });
        deps.verification?.sent();
        return registered;
      } catch (err) {
        if (err instanceof DuplicateUserError) {
          throw conflict(err.field === 'email' ? 'Email already registered' : 'Username already registered');
        }
        throw err;
      }
    },

    /**
     * Unknown user, wrong password and inactive user are one answer, at one cost; each spends an
     * attempt of the account's budget (of the name asked for, when no account has it), a right
     * password none. `client`: the sender's rate-limit address; `details`: what the session keeps of the client.
     */
    async login(login: string, password: string, client: string, details: ClientDetails): Promise<TokenPair & { user: User }> {
      const found = await users.findByLogin(login);
      const attempt = await attempts.begin(found ? accountKey(found.id) : `name:${loginKey(login)}`, client);
      const valid = found ? await passwords.verify(password, found.hashed_password) : await passwords.verifyDummy(password);
      if (!found || !valid || !found.is_active) throw unauthorized(BAD_CREDENTIALS);
      await attempt.succeeded();
      const { hashed_password: _, credentials_version: version, ...user } = found;
      const refreshToken = newRefreshToken();
      // Undefined when the password changed or the account was deactivated since it was read above.
      const sessionId = await sessions.createSession(user.id, version, refreshToken, refreshTtlDays, details);
      if (sessionId === undefined) throw unauthorized(BAD_CREDENTIALS);
      return { ...pair(user.id, sessionId, refreshToken), user };
    },

    async refresh(presented: string, details: ClientDetails): Promise<TokenPair> {
      const next = newRefreshToken();
      const outcome = await sessions.rotate(presented, next, refreshTtlDays, details);
      if (outcome.kind !== 'rotated') throw unauthorized(BAD_REFRESH);
      return pair(outcome.userId, outcome.sessionId, next);
    },

    async logout(sessionId: string): Promise<void> {
      await sessions.revokeSession(sessionId, 'logout');
    },
  };
}
