import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { createAdminRepository } from './repository.js';
import { Stats } from './schemas.js';

const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const repository = createAdminRepository(app.db);
  const reads = app.replicas.router(createAdminRepository, repository);
  // Statistics may be a few seconds old (STATS_CACHE_TTL_MS, per instance); access decisions never are.
  const ttl = app.config.statsCacheTtlMs;
  let cached: { value: Stats; expires: number } | undefined;
  let pending: Promise<Stats> | undefined;
  const stats = async (readerId: number): Promise<Stats> => {
    if (cached && cached.expires > Date.now()) return cached.value;
    // Concurrent misses share one query (routed for the admin whose miss started it).
    pending ??= reads
      .run(readerId, (statistics) => statistics.stats())
      .finally(() => {
        pending = undefined;
      });
    const value = await pending;
    if (ttl > 0) cached = { value, expires: Date.now() + ttl };
    return value;
  };

  app.get(
    '/tasks/admin/stats',
    {
      preParsing: app.requireRole('admin'),
      schema: {
        tags: ['admin'],
        summary: 'Task and user statistics (admins)',
        description: 'Computed by one aggregate query, and cached for STATS_CACHE_TTL_MS (default 5 s) on each instance.',
        security: BEARER_SECURITY,
        response: { 200: Stats, ...problemResponses(401, 403) },
      },
    },
    async (request) => stats(request.currentUser.id),
  );
};

export default adminRoutes;
