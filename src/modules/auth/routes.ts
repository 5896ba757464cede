import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../lib/errors.js';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { loginKey } from '../users/login-names.js';
import { User } from '../users/schemas.js';
import { LoginBody, LoginResponse, RefreshBody, RegisterBody, TokenPair } from './schemas.js';
import { createAuthService } from './service.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** What @fastify/rate-limit's createRateLimit() answers, as far as the login route reads it. */
type Limiter = (request: FastifyRequest) => Promise<{ isAllowed: boolean; isExceeded?: boolean; ttlInSeconds?: number }>;

const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = app.config.rateLimit;
  const limiting = app.hasDecorator('createRateLimit');
  // Register, login and refresh share one budget per client address (the address Fastify derives under
  // TRUST_PROXY), in place of the general one: the group makes the three routes one counter.
  const perAddress = {
    rateLimit: {
      max: limits.authMax,
      timeWindow: limits.windowMs,
      keyGenerator: (r: FastifyRequest) => `auth:${r.ip}`,
      groupId: 'auth',
    },
  };
  // Login attempts per account, whichever identifier (username or email) names it: slows guessing one
  // password; the budget is generous and the window short, so the real user is never locked out for long.
  const loginAttempts = limiting
    ? (app.createRateLimit({
        max: limits.loginFailureMax,
        timeWindow: limits.loginFailureWindowMs,
        keyGenerator: async (r) => {
          const login = (r.body as { username: string }).username;
          const account = await app.usersRepository.findByLogin(login);
          return account ? `login-attempts:user:${account.id}` : `login-attempts:name:${loginKey(login)}`;
        },
      }) as unknown as Limiter)
    : undefined;

  const service = createAuthService({
    users: app.usersRepository,
    auth: app.authRepository,
    passwords: app.passwords,
    tokens: app.accessTokens,
    refreshTtlDays: app.config.refreshTokenExpireDays,
    events: app.events,
  });

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
        // Counted before the password is checked, so guesses sent in parallel cannot slip past the limit.
        const state = await loginAttempts?.(request);
        if (state && !state.isAllowed && state.isExceeded) {
          throw new AppError(429, 'Too many login attempts for this account; retry later', {
            headers: { 'retry-after': String(state.ttlInSeconds ?? 1) },
          });
        }
        const result = await service.login(request.body.username, request.body.password);
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
    async (request, reply) => reply.headers(NO_STORE).send(await service.refresh(request.body.refresh_token)),
  );

  app.post(
    '/auth/logout',
    {
      preParsing: app.authenticate,
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
};

export default authRoutes;
