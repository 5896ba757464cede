import type { Redis } from 'ioredis';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../lib/errors.js';

/** One password attempt, counted already; a right password gives it back. */
export interface Attempt {
  succeeded(): Promise<void>;
}

/**
 * The budget of password attempts (logins, and `current_password` on PATCH /users/me) of one
 * account: per account and client address, so that guesses from one address cannot lock the owner
 * out elsewhere, and per account across all addresses, a higher ceiling that still slows a guess
 * spread over many addresses.
 */
export interface PasswordAttempts {
  /**
   * Counts an attempt before the password is checked, so that guesses sent in parallel cannot slip
   * past the budget; a 429 once either budget is spent. `account` names the account (or the name
   * asked for, when no account has it), `client` the sender's rate-limit address.
   */
  begin(account: string, client: string): Promise<Attempt>;
}

export interface AttemptBudgets {
  perClient: { max: number; windowMs: number };
  perAccount: { max: number; windowMs: number };
}

/** The budget key of an account, the same whichever flow (login, current_password) spends it. */
export const accountKey = (userId: number) => `user:${userId}`;

const SPENT = 'Too many login attempts for this account; retry later';

const unlimited: Attempt = { succeeded: async () => {} };
/** Rate limiting is off: every attempt is allowed. */
export const noPasswordAttempts: PasswordAttempts = { begin: async () => unlimited };

/**
 * In Redis while it answers, so every instance shares the counts; in this process's memory when
 * Redis is not configured or fails (the library's insurance limiter), so logins keep being served.
 * Memory counters are never evicted, only expired at the end of their window: an attacker cannot
 * push an account's count out by sending other names.
 */
export function createPasswordAttempts(budgets: AttemptBudgets, redis?: { client: Redis; keyPrefix: string }): PasswordAttempts {
  const limiter = (name: string, { max, windowMs }: { max: number; windowMs: number }): RateLimiterAbstract => {
    const options = { points: max, duration: windowMs / 1000, keyPrefix: name };
    const memory = new RateLimiterMemory(options);
    if (!redis) return memory;
    return new RateLimiterRedis({
      ...options,
      keyPrefix: `${redis.keyPrefix}${name}`,
      storeClient: redis.client,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory,
    });
  };
  const perClient = limiter('login-attempts:client', budgets.perClient);
  const perAccount = limiter('login-attempts:account', budgets.perAccount);

  const consume = async (budget: RateLimiterAbstract, key: string): Promise<void> => {
    try {
      await budget.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw new AppError(429, SPENT, {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))) },
      });
    }
  };

  return {
    async begin(account, client) {
      const clientKey = `${account}|${client}`;
      await consume(perClient, clientKey);
      try {
        await consume(perAccount, account);
      } catch (err) {
        // Refused before any password was checked: it does not count against this client.
        await perClient.reward(clientKey);
        throw err;
      }
      return {
        async succeeded() {
          await Promise.all([perClient.reward(clientKey), perAccount.reward(account)]);
        },
      };
    },
  };
}
