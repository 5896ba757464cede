import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createCursors } from '../../lib/cursor.js';
import { createProjectsRepository } from './repository.js';
import projectsRoutes from './routes.js';
import { createProjectsService, type ProjectsService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
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
  // A project's tasks are the tasks module's: counted and deleted (with their events) through its repository.
  const service = createProjectsService(repository, {
    unitOfWork: app.unitOfWork,
    cursors: createCursors(app.config.jwtSecret, 'projects'),
    tasks: app.tasksRepository,
  });
  app.decorate('projectsService', service);
  await app.register(projectsRoutes, { prefix: '/api/v1', service });
}

export default fp(projects, { name: 'projects', dependencies: ['db', 'sessions', 'events', 'tasks'] });
