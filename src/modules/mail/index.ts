import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createSecretBox } from '../../lib/secret-box.js';
import { createMailer, type Mailer, renderQueued } from './mailer.js';
import { createMailQueueRepository } from './repository.js';
import { createMailSender } from './sender.js';
import { fileTransport, smtpTransport } from './transports.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Undefined when mail is off (NODE_ENV=production without SMTP_URL): the email features answer 503. */
    mailer: Mailer | undefined;
  }
}

/**
 * The mail module (README, "Password reset"): a queue in PostgreSQL and a background sender in each
 * instance (each worker when WORKERS > 1), from when the server is ready until it closes.
 * - SMTP_URL set: Nodemailer over SMTP.
 * - SMTP_URL unset outside production: .eml files under DATA_DIR/mail/ and the log, so the default
 *   setup needs no mail server (the log shows the link: development only).
 * - SMTP_URL unset in production: mail is off. Refusing to start was the alternative; existing
 *   deployments without a mail server keep starting, and the routes that would mail say why they cannot.
 */
async function mail(app: FastifyInstance) {
  const { config } = app;
  const log = app.log.child({ component: 'mail' });
  const publicUrl = config.publicUrl;
  if ((config.smtpUrl === undefined && config.nodeEnv === 'production') || publicUrl === undefined) {
    app.decorate('mailer', undefined);
    app.addHook('onReady', async () =>
      log.info('mail is off: SMTP_URL is unset with NODE_ENV=production; password reset by email answers 503'),
    );
    return;
  }
  const transport =
    config.smtpUrl === undefined
      ? fileTransport(path.join(config.dataDir, 'mail'), config.mailFrom, log)
      : smtpTransport(config.smtpUrl, config.mailFrom);
  const queue = createMailQueueRepository(app.db);
  // The queue holds a mail's token sealed under a key of its own, derived from JWT_SECRET.
  const box = createSecretBox(config.jwtSecret, 'mail queue secret v1');
  const sender = createMailSender({
    queue,
    transport,
    render: (queued) => renderQueued(queued, box, publicUrl),
    log,
    maxAttempts: config.mail.maxAttempts,
    retryBaseMs: config.mail.retryBaseMs,
    pollIntervalMs: config.mail.pollIntervalMs,
  });
  app.decorate('mailer', createMailer({ queue, box, wake: sender.wake }));
  app.addHook('onReady', async () => {
    sender.start();
    if (config.smtpUrl === undefined)
      log.info(
        { dir: path.join(config.dataDir, 'mail') },
        'mail goes to .eml files and the log (development: SMTP_URL is unset)',
      );
    else log.info('mail goes out over SMTP');
  });
  app.addHook('onClose', () => sender.close());
}

export default fp(mail, { name: 'mail', dependencies: ['config', 'db'] });
