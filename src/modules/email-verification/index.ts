import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden } from '../../lib/errors.js';
import { createEmailVerificationRepository, type EmailVerificationRepository } from './repository.js';
import emailVerificationRoutes from './routes.js';
import { createEmailVerificationService } from './service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Under REQUIRE_VERIFIED_EMAIL, a route an account whose email is not verified may still use (its
     * own profile, logins and logout, and getting the link again); every other authenticated route is a 403.
     */
    unverifiedAllowed?: boolean;
  }
  interface FastifyInstance {
    /** The verification tokens, built once here (maintenance prunes expired ones through it). */
    emailVerificationRepository: EmailVerificationRepository;
    emailVerificationService: ReturnType<typeof createEmailVerificationService>;
  }
}

export const UNVERIFIED_EMAIL =
  'Your email address is not verified yet: open the link mailed to it, or ask for a new one with POST /api/v1/auth/verify-email/resend';

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
  if (config.emailVerification.required) {
    // After authentication (route preParsing), before validation: every module's routes registered
    // after this one get it; requests without a logged-in user pass untouched.
    app.addHook('preValidation', async (request) => {
      const user = request.currentUser;
      if (user && !user.email_verified && request.routeOptions.config.unverifiedAllowed !== true) {
        throw forbidden(UNVERIFIED_EMAIL);
      }
    });
  }
  await app.register(emailVerificationRoutes, { prefix: '/api/v1' });
}

export default fp(emailVerification, {
  name: 'email-verification',
  dependencies: ['config', 'db', 'sessions', 'mail', 'rate-limit', 'events'],
});
