import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createTasksRepository } from '../modules/tasks/repository.js';
import { loggable } from './errors.js';

const EVERY_MS = 15 * 60 * 1000;

/**
 * Deletes what has expired: stored Idempotency-Key responses (24 hours), and logins whose refresh
 * tokens have all expired. Every instance may run it; the deletes are idempotent.
 */
async function maintenance(app: FastifyInstance) {
  const tasks = createTasksRepository(app.db);
  const prune = async () => {
    try {
      const keys = await tasks.pruneIdempotencyKeys();
      const sessions = await app.authRepository.pruneExpiredSessions();
      app.log.debug({ idempotency_keys: keys, sessions }, 'pruned expired rows');
    } catch (err) {
      app.log.warn({ err: loggable(err) }, 'pruning expired rows failed; will retry');
    }
  };
  const timer = setInterval(prune, EVERY_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

export default fp(maintenance, { name: 'maintenance', dependencies: ['db', 'auth'] });
