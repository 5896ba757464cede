import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createSecretBox } from '../../lib/secret-box.js';
import { createDeliverer } from './deliverer.js';
import { createDeliveryRepository, type DeliveryRepository } from './delivery-repository.js';
import { createFanOut } from './fan-out.js';
import { createWebhooksRepository } from './repository.js';
import webhooksRoutes from './routes.js';
import { createWebhooksService, secretContext } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Built whether webhooks are on or off (maintenance prunes finished deliveries through it). */
    webhookDeliveries: DeliveryRepository;
  }
}

/**
 * The webhooks module (README, "Integrations"): the routes under /api/v1/webhooks, and in every
 * instance (each worker when WORKERS > 1) two background workers, from when the server is ready
 * until it closes: the fan-out (the outbox into deliveries) and the delivery worker (sending them).
 * Off with WEBHOOKS_ENABLED=false: no routes, no workers.
 */
async function webhooks(app: FastifyInstance) {
  const { config } = app;
  const deliveries = createDeliveryRepository(app.db);
  app.decorate('webhookDeliveries', deliveries);
  if (!config.webhooks.enabled) return;
  const options = config.webhooks;
  const log = app.log.child({ component: 'webhooks' });
  // Signing secrets are sealed under a key of their own, derived from JWT_SECRET.
  const box = createSecretBox(config.jwtSecret, 'webhook signing secret v1');
  const policy = { allowHttp: config.nodeEnv !== 'production', allowPrivate: options.allowPrivateTargets };
  const deliverer = createDeliverer({
    deliveries,
    unitOfWork: app.unitOfWork,
    openSecret: (delivery) => box.open(delivery.sealedSecret, secretContext(delivery.ownerId)),
    policy,
    maxAttempts: options.maxAttempts,
    retryBaseMs: options.retryBaseMs,
    timeoutMs: options.timeoutMs,
    disableAfterFailures: options.disableAfterFailures,
    pollIntervalMs: options.pollIntervalMs,
    log,
  });
  const fanOut = createFanOut({ deliveries, pollIntervalMs: options.pollIntervalMs, log, onFanned: deliverer.wake });
  // Writes in this instance wake the fan-out once they have committed; other instances' are found by polling.
  app.wakeAfterCommits(fanOut.wake);
  const service = createWebhooksService(createWebhooksRepository(app.db), {
    box,
    policy,
    transaction: (work) => app.db.transaction(work),
    wake: deliverer.wake,
  });
  await app.register(webhooksRoutes, { prefix: '/api/v1', service });
  app.addHook('onReady', async () => {
    fanOut.start();
    deliverer.start();
  });
  app.addHook('onClose', async () => {
    await fanOut.close();
    await deliverer.close();
  });
}

export default fp(webhooks, { name: 'webhooks', dependencies: ['config', 'db', 'sessions', 'events'] });
