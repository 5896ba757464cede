import rateLimit from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { RateLimitStore, StoreCallback } from '@fastify/rate-limit/store/types.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { type Budget, createBudget, unlimitedBudget } from '../lib/budget.js';
import { clientKey } from '../lib/client-address.js';
import { AppError } from '../lib/errors.js';
import { createPasswordAttempts, noPasswordAttempts, type PasswordAttempts } from '../modules/users/password-attempts.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The sender as every budget counts it: its address, an IPv6 one by its network (see client-address.ts). */
    clientKey: (request: FastifyRequest) => string;
    /** Password attempts per account (logins, current_password); allows all when rate limiting is off. */
    passwordAttempts: PasswordAttempts;
    /**
     * A budget of its own for a module's flow (password reset requests per target email), counted
     * where the other budgets are (Redis, or memory); allows all when rate limiting is off.
     */
    budget: (name: string, limits: { max: number; windowMs: number }, refusal: string) => Budget;
  }
}

/**
 * Counts in Redis while it answers, so every instance shares one budget; in this process's memory
 * when Redis is not configured or not reachable, so requests keep being served (per-instance limits).
 */
function fallbackStore(redis: Redis | undefined, prefix: string, onFallback: (err: Error) => void) {
  // Routes with the same groupId count in one store: the library would give each route its own.
  const groups = new Map<string, RateLimitStore>();

  return class FallbackStore implements RateLimitStore {
    private readonly shared: RateLimitStore | undefined;
    private readonly local: RateLimitStore;

    constructor(
      params: { continueExceeding?: boolean; exponentialBackoff?: boolean },
      shared?: RateLimitStore,
      local?: RateLimitStore,
    ) {
      const continueExceeding = params.continueExceeding ?? false;
      const exponentialBackoff = params.exponentialBackoff ?? false;
      this.local = local ?? new LocalStore(continueExceeding, exponentialBackoff, 10_000);
      this.shared = shared ?? (redis ? new RedisStore(continueExceeding, exponentialBackoff, redis, `${prefix}rl:`) : undefined);
    }

    private run(method: 'incr' | 'read', key: string, cb: StoreCallback, timeWindow: number, max: number) {
      if (!this.shared || redis?.status !== 'ready') return this.local[method](key, cb, timeWindow, max);
      this.shared[method](
        key,
        (err, result) => {
          if (!err) return cb(null, result);
          onFallback(err);
          this.local[method](key, cb, timeWindow, max);
        },
        timeWindow,
        max,
      );
    }

    incr(key: string, cb: StoreCallback, timeWindow: number, max: number) {
      this.run('incr', key, cb, timeWindow, max);
    }

    read(key: string, cb: StoreCallback, timeWindow: number, max: number) {
      this.run('read', key, cb, timeWindow, max);
    }

    child(routeOptions: { groupId?: string; continueExceeding?: boolean; exponentialBackoff?: boolean }): RateLimitStore {
      const group = routeOptions.groupId;
      if (group === undefined) {
        return new FallbackStore(routeOptions, this.shared?.child(routeOptions), this.local.child(routeOptions));
      }
      let store = groups.get(group);
      if (!store) {
        const shared = redis ? new RedisStore(false, false, redis, `${prefix}rl:group:${group}:`) : undefined;
        store = new FallbackStore(routeOptions, shared, new LocalStore(false, false, 10_000));
        groups.set(group, store);
      }
      return store;
    }
  };
}

/**
 * Budgets: every route per user (a token that verifies and whose session is live; per address
 * otherwise); the authentication routes per address; password attempts per account and address and
 * per account (modules/users/password-attempts.ts). The address is request.ip, which follows Fastify's
 * trustProxy: X-Forwarded-For counts only from the proxies TRUST_PROXY names (or, with a hop count,
 * from that many hops, whoever sends it); IPv6 is counted by network (RATE_LIMIT_IPV6_PREFIX).
 */
async function rateLimitPlugin(app: FastifyInstance) {
  const { rateLimit: limits, redisKeyPrefix } = app.config;
  app.decorate('clientKey', (request: FastifyRequest) => clientKey(request.ip, limits.ipv6Prefix));
  app.decorate(
    'passwordAttempts',
    limits.enabled
      ? createPasswordAttempts(
          {
            perClient: { max: limits.loginFailureMax, windowMs: limits.loginFailureWindowMs },
            perAccount: { max: limits.loginFailureAccountMax, windowMs: limits.loginFailureAccountWindowMs },
          },
          app.redis && { client: app.redis, keyPrefix: redisKeyPrefix },
        )
      : noPasswordAttempts,
  );
  app.decorate('budget', (name: string, budget: { max: number; windowMs: number }, refusal: string) =>
    limits.enabled
      ? createBudget(name, budget, refusal, app.redis && { client: app.redis, keyPrefix: redisKeyPrefix })
      : unlimitedBudget,
  );
  if (!limits.enabled) return;
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: limits.max,
    timeWindow: limits.windowMs,
    enableDraftSpec: true,
    store: fallbackStore(app.redis, redisKeyPrefix, (err) =>
      app.log.warn({ err: { message: err.message } }, 'rate limit store unreachable: counting in memory'),
    ) as never,
    // Only a live session's user has a budget of its own: a dead or forged token counts against its
    // sender's address, never against the user it names (nor for free).
    keyGenerator: async (request: FastifyRequest) => {
      const user = await app.sessionUser(request).catch(() => undefined);
      return user ? `user:${user.id}` : `ip:${app.clientKey(request)}`;
    },
    errorResponseBuilder: (_request, context) =>
      new AppError(429, `Too many requests: retry in ${context.after}`, {
        headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
      }),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['config', 'redis', 'sessions'] });
