import { createHash, randomBytes } from 'node:crypto';
import type { Executor } from '../../db/pool.js';
import type { Budget } from '../../lib/budget.js';
import { AppError, conflict } from '../../lib/errors.js';
import type { UnitOfWork } from '../events/unit-of-work.js';
import type { Mailer } from '../mail/mailer.js';
import type { EmailVerificationRepository } from './repository.js';

const BAD_TOKEN = 'Invalid or expired email verification token';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const digest = (token: string) => createHash('sha256').update(token).digest();

/** The account a verification mail is for: its current (stored) email. */
export interface VerifiedAccount {
  id: number;
  username: string;
  email: string;
}

/**
 * What registration and an email change need: queue a verification mail in their own transaction,
 * then wake the sender once it has committed. Does nothing when mail is off.
 */
export interface VerificationMails {
  queue(tx: Executor, account: VerifiedAccount): Promise<void>;
  sent(): void;
}

export const verificationNotConfigured = () => new AppError(503, 'Email verification is not configured on this server');

export function createEmailVerificationService(deps: {
  tokens: EmailVerificationRepository;
  unitOfWork: UnitOfWork;
  /** Undefined when mail is off. */
  mailer: Mailer | undefined;
  tokenHours: number;
  /** Resends per user. */
  perUser: Budget;
}) {
  const { tokens, unitOfWork, tokenHours } = deps;

  const mails: VerificationMails = {
    async queue(tx, account) {
      const mailer = deps.mailer;
      if (!mailer) return;
      const token = randomBytes(32).toString('base64url');
      await tokens.issue(tx, account.id, account.email, digest(token), tokenHours);
      await mailer.enqueue(tx, {
        template: 'verify-email',
        to: account.email,
        params: { username: account.username, hours: tokenHours },
        secret: token,
        expiresAt: new Date(Date.now() + tokenHours * 3_600_000),
      });
    },
    sent: () => deps.mailer?.wake(),
  };

  return {
    mails,

    /** Confirms the address the token was mailed to, if it is still the account's; every failure is one 400. */
    async verify(token: string): Promise<void> {
      if (!deps.mailer) throw verificationNotConfigured();
      if (!TOKEN.test(token)) throw new AppError(400, BAD_TOKEN);
      await unitOfWork.run(async (work) => {
        if (!(await tokens.spend(work.db, digest(token)))) throw new AppError(400, BAD_TOKEN);
      });
    },

    /** A new link for the caller's current address (voiding the older); 409 when it is verified already. */
    async resend(account: VerifiedAccount & { email_verified: boolean }): Promise<void> {
      if (!deps.mailer) throw verificationNotConfigured();
      if (account.email_verified) throw conflict('Email already verified');
      await deps.perUser.consume(`user:${account.id}`);
      await unitOfWork.run((work) => mails.queue(work.db, account));
      mails.sent();
    },
  };
}
