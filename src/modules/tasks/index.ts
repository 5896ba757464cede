import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createCursors } from '../../lib/cursor.js';
import { createLabelsRepository } from './labels/repository.js';
import labelsRoutes from './labels/routes.js';
import { createLabelsService } from './labels/service.js';
import { createTasksRepository, type TasksRepository } from './repository.js';
import tasksRoutes from './routes.js';
import { createTasksService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The primary's tasks repository, built once here (maintenance prunes through it). */
    tasksRepository: TasksRepository;
    tasksService: ReturnType<typeof createTasksService>;
  }
}

/** The tasks module: its repositories and services (tasks, and their labels), built once, and their routes under /api/v1. */
async function tasks(app: FastifyInstance) {
  const repository = createTasksRepository(app.db);
  app.decorate('tasksRepository', repository);
  app.decorate(
    'tasksService',
    createTasksService(repository, {
      unitOfWork: app.unitOfWork,
      cursors: createCursors(app.config.jwtSecret, 'tasks'),
      reads: app.replicas.router(createTasksRepository, repository),
    }),
  );
  await app.register(tasksRoutes, { prefix: '/api/v1' });
  const labels = createLabelsRepository(app.db);
  const labelsService = createLabelsService(labels, {
    unitOfWork: app.unitOfWork,
    reads: app.replicas.router(createLabelsRepository, labels),
  });
  await app.register(labelsRoutes, { prefix: '/api/v1', service: labelsService });
}

export default fp(tasks, { name: 'tasks', dependencies: ['db', 'sessions', 'replicas', 'events'] });
