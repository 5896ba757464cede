import { createHash, randomBytes } from 'node:crypto';
import type { Budget } from '../../lib/budget.js';
import { AppError } from '../../lib/errors.js';
import type { UnitOfWork } from '../events/unit-of-work.js';
import type { Mailer } from '../mail/mailer.js';
import { storedEmail } from '../users/login-names.js';
import type { PasswordHasher } from '../users/passwords.js';
import type { UsersRepository } from '../users/repository.js';
import type { SessionRevocation } from '../users/service.js';
import type { PasswordResetRepository } from './repository.js';

const BAD_TOKEN = 'Invalid or expired password reset token';
/** 256 random bits in base64url, as issued: anything else is not worth a database lookup. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const digest = (token: string) => createHash('sha256').update(token).digest();

/** Mail is off (NODE_ENV=production without SMTP_URL): the documented 503 of both routes. */
export const notConfigured = () => new AppError(503, 'Password reset by email is not configured on this server');

export function createPasswordResetService(deps: {
  tokens: PasswordResetRepository;
  users: Pick<UsersRepository, 'findByLogin' | 'updateCredentials'>;
  /** A reset ends every login of the account, as a password change ends the others. */
  sessions: SessionRevocation;
  passwords: PasswordHasher;
  unitOfWork: UnitOfWork;
  /** Undefined when mail is off. */
  mailer: Mailer | undefined;
  tokenMinutes: number;
  /** Requests per target email (lower-cased), whether an account has it or not. */
  perEmail: Budget;
}) {
  const { tokens, users, sessions, passwords, unitOfWork, tokenMinutes } = deps;

  return {
    /**
     * Queues a reset mail for an active account with this email; for any other address, nothing but
     * the same transaction shape. The caller answers the same 202 either way, and the mail is sent
     * by the background sender after the commit, never here.
     */
    async request(email: string): Promise<void> {
      const mailer = deps.mailer;
      if (!mailer) throw notConfigured();
      await deps.perEmail.consume(storedEmail(email));
      const found = await users.findByLogin(email);
      const account = found?.is_active ? found : undefined;
      const token = randomBytes(32).toString('base64url');
      await unitOfWork.run(async (work) => {
        await tokens.issue(work.db, account?.id, digest(token), tokenMinutes);
        if (!account) return;
        await mailer.enqueue(work.db, {
          template: 'password-reset',
          to: account.email,
          params: { username: account.username, minutes: tokenMinutes },
          secret: token,
          expiresAt: new Date(Date.now() + tokenMinutes * 60_000),
        });
      });
      if (account) mailer.wake();
    },

    /**
     * Sets a new password with a live token: the token is spent, the password changes (which moves
     * the credentials version on, so every login of the account ends, on every instance) and the
     * sessions are marked revoked, in one transaction. Every failure is the same 400.
     */
    async confirm(token: string, newPassword: string): Promise<void> {
      if (!deps.mailer) throw notConfigured();
      const bad = () => new AppError(400, BAD_TOKEN);
      if (!TOKEN.test(token)) throw bad();
      const tokenHash = digest(token);
      // A read first, so that junk and dead tokens cost no bcrypt; spend() decides under the transaction.
      if ((await tokens.findLive(tokenHash)) === undefined) throw bad();
      const hashedPassword = await passwords.hash(newPassword);
      await unitOfWork.run(async (work) => {
        const userId = await tokens.spend(work.db, tokenHash);
        if (userId === undefined) throw bad();
        await users.updateCredentials(work.db, userId, { hashedPassword });
        await sessions.revokeOtherSessions(work.db, userId, undefined, 'password_reset');
      });
    },
  };
}
