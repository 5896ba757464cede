import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { User } from './schemas.js';

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/users/me',
    {
      preHandler: app.authenticate,
      schema: {
        tags: ['users'],
        summary: 'The current user',
        security: BEARER_SECURITY,
        response: { 200: User, ...problemResponses(401) },
      },
    },
    async (request) => {
      const { sessionId: _, ...user } = request.currentUser;
      return user;
    },
  );
};

export default usersRoutes;
