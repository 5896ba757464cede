import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createEmailVerificationRepository, type EmailVerificationRepository } from './repository.js';
import emailVerificationRoutes from './routes.js';
import { createEmailVerificationService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The verification tokens, built once here (maintenance prunes expired ones through it). */
    emailVerificationRepository: EmailVerificationRepository;
    emailVerificationService: ReturnType<typeof createEmailVerificationService>;
  }
}

/**
 * The email-verification module: verification mails (registration and an email change queue them
 * through `emailVerificationService.mails`), POST /auth/verify-email and /auth/verify-email/resend.
 * Registered before users and auth, which queue its mails.
 */
async function emailVerification(app: FastifyInstance) {
  const { config } = app;
  const repository = createEmailVerificationRepository(app.db);
  app.decorate('emailVerificationRepository', repository);
  app.decorate(
    'emailVerificationService',
    createEmailVerificationService({
      tokens: repository,
      unitOfWork: app.unitOfWork,
      mailer: app.mailer,
      tokenHours: config.emailVerification.tokenHours,
      perUser: app.budget(
        'verify-email:resend',
        { max: config.emailVerification.resendMax, windowMs: config.emailVerification.resendWindowMs },
        'Too many verification mails for this account; retry later',
      ),
    }),
  );
  await app.register(emailVerificationRoutes, { prefix: '/api/v1' });
}

export default fp(emailVerification, {
  name: 'email-verification',
  dependencies: ['config', 'db', 'sessions', 'mail', 'rate-limit', 'events'],
});
