import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import { TOKEN_PREFIX } from './format.js';
import {
  AccessToken,
  AccessTokenCreateBody,
  CreatedAccessToken,
  EXPIRES_IN_DAYS_DEFAULT,
  EXPIRES_IN_DAYS_MAX,
  MAX_TOKENS_PER_USER,
} from './schemas.js';
import type { AccessTokensService } from './service.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const LOGIN_ONLY = 'Needs a login: a personal access token is refused here (403), whatever its scopes.';

/**
 * The caller's personal access tokens. No route here names a scope, so no token reaches them:
 * a leaked token cannot mint, list or delete tokens.
 */
const accessTokensRoutes: FastifyPluginAsyncTypebox<{ service: AccessTokensService }> = async (app, { service }) => {
  app.addHook('preParsing', app.authenticate);
  const common = { tags: ['tokens'], security: BEARER_SECURITY };

  app.post(
    '/users/me/tokens',
    {
      schema: {
        ...common,
        summary: 'Create a personal access token',
        description:
          `The answer carries the token (\`${TOKEN_PREFIX}\` and 43 characters) this once: it is stored only as a digest. ` +
          `It expires after \`expires_in_days\` (1 to ${EXPIRES_IN_DAYS_MAX}, ${EXPIRES_IN_DAYS_DEFAULT} by default), and ends ` +
          'earlier with a password change or reset, or a deactivation. A name the caller already uses, or a ' +
          `${MAX_TOKENS_PER_USER + 1}st live token, is a 409; the \`admin\` scope asked for by a non-admin, a 403. ${LOGIN_ONLY}`,
        body: AccessTokenCreateBody,
        response: { 201: CreatedAccessToken, ...problemResponses(400, 401, 403, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .headers(NO_STORE)
        .send(await service.create(request.currentUser, request.body)),
  );

  app.get(
    '/users/me/tokens',
    {
      schema: {
        ...common,
        summary: 'List your personal access tokens',
        description: `The caller's live tokens, newest first, without the tokens themselves. ${LOGIN_ONLY}`,
        response: {
          200: Type.Array(AccessToken, {
            title: 'AccessTokenList',
            maxItems: MAX_TOKENS_PER_USER,
            description: "The caller's live tokens",
          }),
          ...problemResponses(401, 403),
        },
      },
    },
    async (request) => service.list(request.currentUser),
  );

  app.delete(
    '/users/me/tokens/:id',
    {
      schema: {
        ...common,
        summary: 'Delete a personal access token',
        description: `Ends the token at once. Another user's token is a 404, exactly like one that does not exist. ${LOGIN_ONLY}`,
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export default accessTokensRoutes;
