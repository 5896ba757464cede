import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type AccessTokensRepository, createAccessTokensRepository } from './repository.js';
import accessTokensRoutes from './routes.js';
import { createAccessTokensService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Personal access tokens by owner, built once here (maintenance prunes expired ones through it). */
    accessTokensRepository: AccessTokensRepository;
  }
}

/**
 * The access-tokens module: personal access tokens, made, listed and deleted by their owner under
 * /api/v1/users/me/tokens. Checking a presented token on each request is the sessions module's
 * `authenticate`, with every other credential.
 */
async function accessTokens(app: FastifyInstance) {
  const repository = createAccessTokensRepository(app.db);
  app.decorate('accessTokensRepository', repository);
  const service = createAccessTokensService({ tokens: repository });
  await app.register(accessTokensRoutes, { prefix: '/api/v1', service });
}

export default fp(accessTokens, { name: 'access-tokens', dependencies: ['config', 'db', 'sessions'] });
