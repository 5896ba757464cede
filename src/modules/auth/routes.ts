import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { clientDetails } from '../sessions/client-details.js';
import { User } from '../users/schemas.js';
import { LoginBody, LoginResponse, RefreshBody, RegisterBody, TokenPair } from './schemas.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = app.config.rateLimit;
  // Register, login and refresh share one budget per client address (the address Fastify derives under
  // TRUST_PROXY), in place of the general one: the group makes the three routes one counter.
  const perAddress = {
    rateLimit: {
      max: limits.authMax,
      timeWindow: limits.windowMs,
      keyGenerator: (r: FastifyRequest) => `auth:${app.clientKey(r)}`,
      groupId: 'auth',
    },
  };

  const service = app.authService;

  app.post(
    '/auth/register',
    {
      config: perAddress,
      schema: {
        tags: ['auth'],
        summary: 'Create an account',
        description: 'Creates a user with the `user` role. Any field other than username, email and password is refused.',
        body: RegisterBody,
        response: { 201: User, ...problemResponses(400, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const user = await service.register(request.body);
      return reply.code(201).header('location', `/api/v1/users/${user.id}`).send(user);
    },
  );

  // The form parser is registered for the login route alone: no other route accepts form bodies.
  await app.register(async (instance) => {
    const login = instance.withTypeProvider<TypeBoxTypeProvider>();
    await login.register(formbody, { bodyLimit: 16 * 1024 });
    login.post(
      '/auth/login',
      {
        config: perAddress,
        schema: {
          tags: ['auth'],
          summary: 'Log in',
          description:
            'Takes JSON or an OAuth2 password-flow form (`application/x-www-form-urlencoded`). The username field also accepts the email. ' +
            'Unknown user, wrong password and deactivated account all answer the same 401.',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: LoginBody,
          response: { 200: LoginResponse, ...problemResponses(400, 401, 413, 415, 422, 429) },
        },
      },
      async (request, reply) => {
        const { username, password } = request.body;
        const result = await service.login(username, password, app.clientKey(request), clientDetails(request));
        return reply.headers(NO_STORE).send(result);
      },
    );
  });

  app.post(
    '/auth/refresh',
    {
      config: perAddress,
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new token pair',
        description: 'Refresh tokens are single use. Presenting a spent one revokes every token of that login.',
        body: RefreshBody,
        response: { 200: TokenPair, ...problemResponses(400, 401, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      reply.headers(NO_STORE).send(await service.refresh(request.body.refresh_token, clientDetails(request))),
  );

  app.post(
    '/auth/logout',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        tags: ['auth'],
        summary: 'Log out',
        description: 'Revokes this access token and every refresh token of the same login, on every instance.',
        security: BEARER_SECURITY,
        response: { 204: Type.Null({ description: 'Logged out' }), ...problemResponses(401) },
      },
    },
    async (request, reply) => {
      await service.logout(request.currentUser.sessionId);
      return reply.code(204).headers(NO_STORE).send(null);
    },
  );

  app.post(
    '/auth/logout-all',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        tags: ['auth'],
        summary: 'Log out everywhere',
        description:
          'Ends every session of the account, this one included: their access tokens are refused from the next request ' +
          'on, on every instance, and their refresh tokens no longer refresh.',
        security: BEARER_SECURITY,
        response: { 204: Type.Null({ description: 'Logged out everywhere' }), ...problemResponses(401) },
      },
    },
    async (request, reply) => {
      await app.sessionsService.endAll(request.currentUser.id);
      return reply.code(204).headers(NO_STORE).send(null);
    },
  );
};

export default authRoutes;
