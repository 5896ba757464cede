import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { loggable } from '../db/errors.js';

const EVERY_MS = 15 * 60 * 1000;

/**
 * Deletes what has expired: stored Idempotency-Key responses (24 hours), logins whose refresh
 * tokens have all expired, password reset, email verification and personal access tokens past
 * their expiry (or ended by a password change), stream tickets past theirs, and published events
 * (those the webhook feed has passed, when webhooks are on) and finished webhook deliveries older
 * than EVENTS_RETENTION_HOURS. Every instance may run it; the deletes are idempotent.
 */
async function maintenance(app: FastifyInstance) {
  // The modules' own repositories: a module's repository is built once, by its index.ts.
  const tasks = app.tasksRepository;
  const outbox = app.outboxRepository;
  const prune = async () => {
    try {
      const keys = await tasks.pruneIdempotencyKeys();
      const sessions = await app.sessionsRepository.pruneExpiredSessions();
      const resetTokens = await app.passwordResetRepository.pruneExpired();
      const verificationTokens = await app.emailVerificationRepository.pruneExpired();
      const accessTokens = await app.accessTokensRepository.pruneExpired();
      const streamTickets = await app.streamRepository.pruneTickets();
      // Even with events off now: rows sent while they were on still age out.
      const events = await outbox.pruneSent(app.config.events.retentionHours, app.config.webhooks.enabled);
      // Finished webhook deliveries are kept as long as events are.
      const deliveries = await app.webhookDeliveries.pruneFinished(app.config.events.retentionHours);
      app.log.debug(
        {
          idempotency_keys: keys,
          sessions,
          password_reset_tokens: resetTokens,
          email_verification_tokens: verificationTokens,
          personal_access_tokens: accessTokens,
          stream_tickets: streamTickets,
          sent_events: events,
          webhook_deliveries: deliveries,
        },
        'pruned expired rows',
      );
    } catch (err) {
      app.log.warn({ err: loggable(err) }, 'pruning expired rows failed; will retry');
    }
  };
  const timer = setInterval(prune, EVERY_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

export default fp(maintenance, {
  name: 'maintenance',
  dependencies: [
    'db',
    'sessions',
    'tasks',
    'events',
    'password-reset',
    'email-verification',
    'access-tokens',
    'webhooks',
    'stream',
  ],
});
