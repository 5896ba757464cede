import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { taskEtag } from '../../lib/etag.js';
import {
  pagedList,
  pageOf,
  refuseCursorWithOffset,
  setCursorPaginationHeaders,
  setPaginationHeaders,
} from '../../lib/pagination.js';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import { ConditionalHeaders, CreateHeaders, Task, TaskCreateBody, TaskListQuery, TaskUpdateBody } from './schemas.js';

const tasksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.tasksService;
  app.addHook('preParsing', app.authenticate);
  const common = { tags: ['tasks'], security: BEARER_SECURITY };

  app.post(
    '/tasks',
    {
      config: { scope: 'tasks:write' },
      schema: {
        ...common,
        summary: 'Create a task',
        description:
          'The task belongs to the caller. Any field other than title, description, status, priority, due_at and labels is refused. ' +
          'With an `Idempotency-Key`, the response is kept for 24 hours and replayed (with `Idempotent-Replayed: true`) ' +
          'for a retry with the same key and body, so a retried create never makes a second task; the same key with another ' +
          'body is a 422, and a retry while the first request is still running is a 409.',
        headers: CreateHeaders,
        body: TaskCreateBody,
        response: { 201: Task, ...problemResponses(400, 401, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const outcome = await service.create(request.currentUser, request.body, request.headers['idempotency-key']);
      if (outcome.replayed) {
        const replayed = outcome.body as Task;
        return reply
          .code(outcome.status as 201)
          .headers({
            location: `/api/v1/tasks/${replayed.id}`,
            'idempotent-replayed': 'true',
            // The stored body is the task as created, at version 1.
            etag: taskEtag({ id: replayed.id, version: 1 }),
          })
          .send(replayed);
      }
      return reply
        .code(201)
        .headers({ location: `/api/v1/tasks/${outcome.task.id}`, etag: taskEtag(outcome.task) })
        .send(outcome.task);
    },
  );

  app.get(
    '/tasks',
    {
      config: { scope: 'tasks:read' },
      schema: {
        ...common,
        summary: 'List tasks',
        description:
          "A bare array, one page at a time; X-Total-Count and Link headers describe the rest. Users see their own tasks; admins see everyone's and may narrow with user_id. label keeps the tasks that carry every label named (any case). " +
          'Two ways of paging: offset and limit (Link first, prev, next, last), or keyset paging with cursor (send `cursor=` for ' +
          'the first page, then follow Link rel="next", which carries the next cursor; Link first and next only), ' +
          'which costs the same on every page however deep.',
        querystring: TaskListQuery,
        response: {
          200: pagedList(Task, 'TaskList'),
          ...problemResponses(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      if (request.query.cursor === undefined) {
        const { items, total } = await service.list(request.currentUser, request.query);
        setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
        return items;
      }
      refuseCursorWithOffset(request.url);
      const { items, total, next } = await service.list(request.currentUser, request.query);
      setCursorPaginationHeaders(request, reply, { total, limit: pageOf(request.query).limit, next });
      return items;
    },
  );

  app.get(
    '/tasks/:id',
    {
      config: { scope: 'tasks:read' },
      schema: {
        ...common,
        summary: 'Get a task',
        description:
          "Another user's task is a 404, exactly like a task that does not exist. The ETag can be sent back in If-None-Match (304 when unchanged) or If-Match (on PUT, PATCH and DELETE).",
        params: IdParams,
        response: { 200: Task, ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      const task = await service.get(request.currentUser, request.params.id);
      return reply.header('etag', taskEtag(task)).send(task);
    },
  );

  const updateSchema = (summary: string) => ({
    ...common,
    summary,
    description:
      'Changes the fields sent (at least one) and keeps the others; labels, when sent, replace the whole list. A task can never change owner. ' +
      'With If-Match, only if the task still has that ETag (412 otherwise, and nothing changes).',
    params: IdParams,
    headers: ConditionalHeaders,
    body: TaskUpdateBody,
    response: { 200: Task, ...problemResponses(400, 401, 404, 412, 413, 415, 422) },
  });
  for (const method of ['put', 'patch'] as const) {
    app[method](
      '/tasks/:id',
      {
        config: { scope: 'tasks:write' },
        schema: updateSchema(method === 'put' ? 'Update a task' : 'Update a task (same as PUT)'),
      },
      async (request, reply) => {
        const task = await service.update(request.currentUser, request.params.id, request.body, request.headers['if-match']);
        return reply.header('etag', taskEtag(task)).send(task);
      },
    );
  }

  app.delete(
    '/tasks/:id',
    {
      config: { scope: 'tasks:write' },
      schema: {
        ...common,
        summary: 'Delete a task',
        description: 'With If-Match, only if the task still has that ETag (412 otherwise).',
        params: IdParams,
        headers: ConditionalHeaders,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 404, 412, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.id, request.headers['if-match']);
      return reply.code(204).send(null);
    },
  );
};

export default tasksRoutes;
