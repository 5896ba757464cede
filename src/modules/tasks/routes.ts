import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { paginationHeaders, setPaginationHeaders } from '../../lib/pagination.js';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import { createTasksRepository } from './repository.js';
import { Task, TaskCreateBody, TaskListQuery, TaskUpdateBody } from './schemas.js';
import { createTasksService } from './service.js';

const tasksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createTasksService(createTasksRepository(app.db));
  app.addHook('onRequest', app.authenticate);
  const common = { tags: ['tasks'], security: BEARER_SECURITY };

  app.post(
    '/tasks',
    {
      schema: {
        ...common,
        summary: 'Create a task',
        description: 'The task belongs to the caller. Any field other than title, description, status and priority is refused.',
        body: TaskCreateBody,
        response: { 201: Task, ...problemResponses(400, 401, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const task = await service.create(request.currentUser, request.body);
      return reply.code(201).header('location', `/api/v1/tasks/${task.id}`).send(task);
    },
  );

  app.get(
    '/tasks',
    {
      schema: {
        ...common,
        summary: 'List tasks',
        description:
          "A bare array, one page at a time; X-Total-Count and Link headers describe the rest. Users see their own tasks; admins see everyone's and may narrow with user_id.",
        querystring: TaskListQuery,
        response: {
          200: Type.Array(Task, { headers: paginationHeaders } as Record<string, unknown>),
          ...problemResponses(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      const { items, total } = await service.list(request.currentUser, request.query);
      setPaginationHeaders(request, reply, { total, limit: request.query.limit, offset: request.query.offset });
      return items;
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: {
        ...common,
        summary: 'Get a task',
        description: "Another user's task is a 404, exactly like a task that does not exist.",
        params: IdParams,
        response: { 200: Task, ...problemResponses(401, 404, 422) },
      },
    },
    async (request) => service.get(request.currentUser, request.params.id),
  );

  const updateSchema = (summary: string) => ({
    ...common,
    summary,
    description: 'Changes the fields sent (at least one) and keeps the others. A task can never change owner.',
    params: IdParams,
    body: TaskUpdateBody,
    response: { 200: Task, ...problemResponses(400, 401, 404, 413, 415, 422) },
  });
  app.put('/tasks/:id', { schema: updateSchema('Update a task') }, async (request) =>
    service.update(request.currentUser, request.params.id, request.body),
  );
  app.patch('/tasks/:id', { schema: updateSchema('Update a task (same as PUT)') }, async (request) =>
    service.update(request.currentUser, request.params.id, request.body),
  );

  app.delete(
    '/tasks/:id',
    {
      schema: {
        ...common,
        summary: 'Delete a task',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export default tasksRoutes;
