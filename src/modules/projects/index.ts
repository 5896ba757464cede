import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createCursors } from '../../lib/cursor.js';
import { createProjectsRepository, type ProjectsRepository } from './repository.js';
import projectsRoutes from './routes.js';
import { createProjectsService, type ProjectsService } from './service.js';

export { memberProjectIds, roleIn, visibleProjectIds } from './repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The primary's projects repository, built once here: other modules ask it "what is this user's role
     * in project P" (roleIn) and "which projects can this user see" (visibleProjectIds, memberProjectIds).
     */
    projectsRepository: ProjectsRepository;
    projectsService: ProjectsService;
  }
}

/**
 * The projects module: projects and their members, their repository and service, built once, and
 * their routes under /api/v1. Memberships are read from the primary on every request, never from a
 * replica or a cache: access decisions are never stale.
 */
async function projects(app: FastifyInstance) {
  const repository = createProjectsRepository(app.db);
  const service = createProjectsService(repository, {
    unitOfWork: app.unitOfWork,
    cursors: createCursors(app.config.jwtSecret, 'projects'),
  });
  app.decorate('projectsRepository', repository);
  app.decorate('projectsService', service);
  await app.register(projectsRoutes, { prefix: '/api/v1', service });
}

export default fp(projects, { name: 'projects', dependencies: ['db', 'sessions', 'events'] });
