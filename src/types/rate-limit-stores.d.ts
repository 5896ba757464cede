// The stores shipped inside @fastify/rate-limit, reused by the fallback store in plugins/rate-limit.ts.
declare module '@fastify/rate-limit/store/LocalStore.js' {
  import type { RateLimitStore } from '@fastify/rate-limit/store/types.js';

  const LocalStore: new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => RateLimitStore;
  export default LocalStore;
}

declare module '@fastify/rate-limit/store/RedisStore.js' {
  import type { RateLimitStore } from '@fastify/rate-limit/store/types.js';
  import type { Redis } from 'ioredis';

  const RedisStore: new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => RateLimitStore;
  export default RedisStore;
}

declare module '@fastify/rate-limit/store/types.js' {
  export type StoreCallback = (err: Error | null, result?: { current: number; ttl: number }) => void;
  export interface RateLimitStore {
    incr(key: string, cb: StoreCallback, timeWindow: number, max: number): void;
    read(key: string, cb: StoreCallback, timeWindow: number, max: number): void;
    child(routeOptions: unknown): RateLimitStore;
  }
}
