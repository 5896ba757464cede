import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createAdminRepository } from './repository.js';
import adminRoutes from './routes.js';
import { createAdminService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    adminService: ReturnType<typeof createAdminService>;
  }
}

/** The admin module: its service (with the statistics cache, over its repository) (with the statistics cache), built once, and its routes under /api/v1. */
async function admin(app: FastifyInstance) {
  const repository = createAdminRepository(app.db);
  app.decorate(
    'adminService',
    createAdminService(app.replicas.router(createAdminRepository, repository), {
      statsCacheTtlMs: app.config.statsCacheTtlMs,
    }),
  );
  await app.register(adminRoutes, { prefix: '/api/v1' });
}

export default fp(admin, { name: 'admin', dependencies: ['config', 'db', 'sessions', 'replicas'] });
