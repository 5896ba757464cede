import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BEARER_SECURITY, problemResponses } from '../../../lib/schemas.js';
import { LabelParams, LabelRenameBody, LabelSummary } from './schemas.js';
import type { LabelsService } from './service.js';

/** The label routes: thin, over the caller's own labels. */
const labelsRoutes: FastifyPluginAsyncTypebox<{ service: LabelsService }> = async (app, { service }) => {
  app.addHook('preParsing', app.authenticate);
  const common = { tags: ['labels'], security: BEARER_SECURITY };

  app.get(
    '/labels',
    {
      config: { scope: 'tasks:read' },
      schema: {
        ...common,
        summary: 'List your labels',
        description:
          "The caller's labels (admins too see only their own), sorted by name case-insensitively, each with how many of the caller's tasks carry it. " +
          'A label stays in the list, with a task_count of 0, once no task carries it, until it is deleted.',
        response: {
          200: Type.Array(LabelSummary, { title: 'LabelList', maxItems: 100_000, description: "The caller's labels" }),
          ...problemResponses(401),
        },
      },
    },
    async (request) => service.list(request.currentUser),
  );

  app.patch(
    '/labels/:name',
    {
      config: { scope: 'tasks:write' },
      schema: {
        ...common,
        summary: 'Rename a label',
        description:
          'Renames one of your labels (named in any case) on every task that carries it. If you already have a label of the new name ' +
          '(in any case), the two merge into that one, keeping its spelling: a task that carried both keeps one. Each task whose labels ' +
          'change gets a new ETag and a task.updated event, and the rename one label.renamed event (none when the name is already exactly ' +
          'the new one). Unknown label: 404.',
        params: LabelParams,
        body: LabelRenameBody,
        response: { 200: LabelSummary, ...problemResponses(400, 401, 404, 413, 415, 422) },
      },
    },
    async (request) => service.rename(request.currentUser, request.params.name, request.body.name),
  );

  app.delete(
    '/labels/:name',
    {
      config: { scope: 'tasks:write' },
      schema: {
        ...common,
        summary: 'Delete a label',
        description:
          'Removes one of your labels (named in any case) from every task and from your labels. Each task that carried it gets a new ETag ' +
          'and a task.updated event, and the delete one label.deleted event. Unknown label: 404.',
        params: LabelParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.name);
      return reply.code(204).send(null);
    },
  );
};

export default labelsRoutes;
