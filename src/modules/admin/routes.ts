import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { createAdminRepository } from './repository.js';
import { Stats } from './schemas.js';

const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const repository = createAdminRepository(app.db);

  app.get(
    '/tasks/admin/stats',
    {
      onRequest: app.requireRole('admin'),
      schema: {
        tags: ['admin'],
        summary: 'Task and user statistics (admins)',
        security: BEARER_SECURITY,
        response: { 200: Stats, ...problemResponses(401, 403) },
      },
    },
    async () => repository.stats(),
  );
};

export default adminRoutes;
