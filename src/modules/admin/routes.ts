import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { Stats } from './schemas.js';

const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/tasks/admin/stats',
    {
      preParsing: app.requireRole('admin'),
      config: { scope: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'Task and user statistics (admins)',
        description: 'Computed by one aggregate query, and cached for STATS_CACHE_TTL_MS (default 5 s) on each instance.',
        security: BEARER_SECURITY,
        response: { 200: Stats, ...problemResponses(401, 403) },
      },
    },
    async (request) => app.adminService.stats(request.currentUser.id),
  );
};

export default adminRoutes;
