import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { MAX_SESSIONS_LISTED, Session, SessionIdParams } from './schemas.js';

/** A user's own logins: /users/me/sessions. */
const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.sessionsService;
  const common = { tags: ['users'], security: BEARER_SECURITY };

  app.get(
    '/users/me/sessions',
    {
      preParsing: app.authenticate,
      // An unverified account may still see and end its own logins (REQUIRE_VERIFIED_EMAIL).
      config: { unverifiedAllowed: true },
      schema: {
        ...common,
        summary: 'My sessions',
        description:
          'The live logins of the account (not logged out, ended, expired or made before a password change), most ' +
          `recently used first, at most ${MAX_SESSIONS_LISTED}. \`current\` marks the one making this request. ` +
          'Addresses are shown (and kept) only as networks.',
        response: { 200: Type.Array(Session, { title: 'SessionList', maxItems: MAX_SESSIONS_LISTED }), ...problemResponses(401) },
      },
    },
    async (request) => service.list(request.currentUser.id, request.currentUser.sessionId),
  );

  app.delete(
    '/users/me/sessions/:id',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        ...common,
        summary: 'End one of my sessions',
        description:
          'Its access tokens are refused from the next request on, on every instance, and its refresh token no longer ' +
          'refreshes. An id that is not a live session of the account (unknown, another account’s, already ended) is a 404.',
        params: SessionIdParams,
        response: { 204: Type.Null({ description: 'Ended' }), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await service.end(request.currentUser.id, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/users/me/sessions',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        ...common,
        summary: 'End my other sessions',
        description: 'Ends every session of the account but the one making this request, as ending each would.',
        response: { 204: Type.Null({ description: 'Ended' }), ...problemResponses(401) },
      },
    },
    async (request, reply) => {
      await service.endOthers(request.currentUser.id, request.currentUser.sessionId);
      return reply.code(204).send(null);
    },
  );
};

export default sessionRoutes;
