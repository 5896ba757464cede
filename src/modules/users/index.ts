import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createCursors } from '../../lib/cursor.js';
import { createPasswordHasher, type PasswordHasher } from './passwords.js';
import { createUsersRepository, type UsersRepository } from './repository.js';
import usersRoutes from './routes.js';
import { createUsersService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The hasher of users' passwords (bcrypt over a peppered HMAC); the login flows verify with it. */
    passwords: PasswordHasher;
    /** The primary's users repository, built once here (the login flows read accounts through it). */
    usersRepository: UsersRepository;
    usersService: ReturnType<typeof createUsersService>;
  }
}

/**
 * The users module: accounts and their credentials. Its repository, hasher and service, built once,
 * and its routes under /api/v1. Sessions (the request hooks, and the revocations a password change or
 * a deactivation makes) come from the sessions module, password-attempt budgets from the rate limit.
 */
async function users(app: FastifyInstance) {
  const { config } = app;
  const repository = createUsersRepository(app.db);
  const passwords = createPasswordHasher({ cost: config.bcryptCost, pepper: config.passwordPepper });
  app.decorate('passwords', passwords);
  app.decorate('usersRepository', repository);
  app.decorate(
    'usersService',
    createUsersService({
      users: repository,
      sessions: app.sessionsRepository,
      passwords,
      reads: app.replicas.router(createUsersRepository, repository),
      unitOfWork: app.unitOfWork,
      attempts: app.passwordAttempts,
      cursors: createCursors(config.jwtSecret, 'users'),
      verification: app.emailVerificationService.mails,
    }),
  );
  await app.register(usersRoutes, { prefix: '/api/v1' });
}

export default fp(users, {
  name: 'users',
  dependencies: ['config', 'db', 'sessions', 'rate-limit', 'replicas', 'events', 'email-verification'],
});
