import type { Redis } from 'ioredis';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from './errors.js';

/** A budget of actions per key and window: `consume` spends one, or refuses with a 429 once it is spent. */
export interface Budget {
  consume(key: string): Promise<void>;
}

/** Rate limiting is off: every action is allowed. */
export const unlimitedBudget: Budget = { consume: async () => {} };

/**
 * A budget counted in Redis while it answers (every instance shares it), otherwise in this process's
 * memory (the library's insurance limiter), as the password-attempt budgets are. `refusal` is the
 * 429's detail. Memory counters only expire with their window: other keys cannot push one out.
 */
export function createBudget(
  name: string,
  limits: { max: number; windowMs: number },
  refusal: string,
  redis?: { client: Redis; keyPrefix: string },
): Budget {
  const options = { points: limits.max, duration: limits.windowMs / 1000, keyPrefix: name };
  const memory = new RateLimiterMemory(options);
  const limiter: RateLimiterAbstract = redis
    ? new RateLimiterRedis({
        ...options,
        keyPrefix: `${redis.keyPrefix}${name}`,
        storeClient: redis.client,
        rejectIfRedisNotReady: true,
        insuranceLimiter: memory,
      })
    : memory;
  return {
    async consume(key) {
      try {
        await limiter.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        throw new AppError(429, refusal, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))) },
        });
      }
    },
  };
}
