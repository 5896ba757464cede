import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createPasswordResetRepository, type PasswordResetRepository } from './repository.js';
import passwordResetRoutes from './routes.js';
import { createPasswordResetService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The reset tokens, built once here (maintenance prunes expired ones through it). */
    passwordResetRepository: PasswordResetRepository;
    passwordResetService: ReturnType<typeof createPasswordResetService>;
  }
}

/**
 * The password-reset module: POST /auth/password-reset (a mail with a single-use token) and
 * /auth/password-reset/confirm (a new password with it), over the users module's accounts and
 * hasher, the sessions module's revocation and the mail module's queue.
 */
async function passwordReset(app: FastifyInstance) {
  const { config } = app;
  const repository = createPasswordResetRepository(app.db);
  app.decorate('passwordResetRepository', repository);
  app.decorate(
    'passwordResetService',
    createPasswordResetService({
      tokens: repository,
      users: app.usersRepository,
      sessions: app.sessionsRepository,
      passwords: app.passwords,
      unitOfWork: app.unitOfWork,
      mailer: app.mailer,
      tokenMinutes: config.passwordReset.tokenMinutes,
      perEmail: app.budget(
        'password-reset:email',
        { max: config.passwordReset.emailMax, windowMs: config.passwordReset.windowMs },
        'Too many password reset requests for this email; retry later',
      ),
    }),
  );
  await app.register(passwordResetRoutes, { prefix: '/api/v1' });
}

export default fp(passwordReset, {
  name: 'password-reset',
  dependencies: ['config', 'db', 'sessions', 'users', 'mail', 'rate-limit', 'events'],
});
