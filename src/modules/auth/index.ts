import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import authRoutes from './routes.js';
import { createAuthService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    authService: ReturnType<typeof createAuthService>;
  }
}

/**
 * The auth module: the login flows (register, login, refresh, logout) over the users module's
 * accounts and the sessions module's logins. Its service, built once, and its routes under /api/v1.
 */
async function auth(app: FastifyInstance) {
  app.decorate(
    'authService',
    createAuthService({
      users: app.usersRepository,
      sessions: app.sessionsRepository,
      passwords: app.passwords,
      tokens: app.accessTokens,
      refreshTtlDays: app.config.refreshTokenExpireDays,
      unitOfWork: app.unitOfWork,
      attempts: app.passwordAttempts,
      verification: app.emailVerificationService.mails,
    }),
  );
  await app.register(authRoutes, { prefix: '/api/v1' });
}

export default fp(auth, {
  name: 'auth',
  dependencies: ['config', 'sessions', 'users', 'rate-limit', 'events', 'email-verification'],
});
