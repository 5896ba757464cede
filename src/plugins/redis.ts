import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';

declare module 'fastify' {
  interface FastifyInstance {
    /** Present when REDIS_URL is set; it may be disconnected at any moment, and callers fall back. */
    redis: Redis | undefined;
  }
}

/**
 * Redis is optional and never required to serve a request: commands fail fast while it is down
 * (no offline queue), the client keeps reconnecting, and each state change is logged once.
 */
async function redis(app: FastifyInstance) {
  const url = app.config.redisUrl;
  if (!url) {
    app.decorate('redis', undefined);
    return;
  }
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let down = false;
  client.on('error', (err) => {
    if (down) return;
    down = true;
    app.log.warn({ err: { message: err.message } }, 'Redis unreachable: using per-instance fallbacks until it is back');
  });
  client.on('ready', () => {
    if (down) app.log.info('Redis reachable again');
    down = false;
  });
  await client.connect().catch(() => {
    // Logged by the error handler above; the client keeps retrying in the background.
  });
  app.decorate('redis', client);
  app.addHook('onClose', async () => {
    client.disconnect();
  });
}

export default fp(redis, { name: 'redis', dependencies: ['config'] });
