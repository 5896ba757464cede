import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { TokenScope } from '../../db/enums.js';
import { forbidden, insufficientScope, unauthorized } from '../../lib/errors.js';
import { covers, isPersonalAccessToken, presentedTokenHash } from '../access-tokens/format.js';
import type { Role } from '../users/schemas.js';
import type { CurrentUser } from './current-user.js';
import { createSessionsRepository, LAST_USED_STEP_SECONDS, type SessionsRepository } from './repository.js';
import routes from './routes.js';
import { createSessionsService, type SessionsService } from './service.js';
import { createSessionCache } from './session-cache.js';
import { type AccessTokens, createAccessTokens } from './tokens.js';

declare module 'fastify' {
  interface FastifyInstance {
    accessTokens: AccessTokens;
    /** The primary's sessions repository, built once here (the login flows, users' revocations, maintenance). */
    sessionsRepository: SessionsRepository;
    /** preParsing hook: a valid, unrevoked token of an active user, or 401 (after rate limiting, before the body is read). */
    authenticate: (request: FastifyRequest) => Promise<void>;
    /** The user of the request's token if it verifies and its session is live; checked once per request. */
    sessionUser: (request: FastifyRequest) => Promise<CurrentUser | undefined>;
    /** preParsing hook: authenticate, then require the role (read from the database), or 403. */
    requireRole: (role: Role) => (request: FastifyRequest) => Promise<void>;
    /** A user's own sessions: the list, and ending them (the routes of sessionRoutes, logout-all). */
    sessionsService: SessionsService;
  }
  interface FastifyRequest {
    currentUser: CurrentUser;
  }
  interface FastifyContextConfig {
    /**
     * The scope a personal access token needs for this route (a `:write` scope covers its `:read`).
     * A route that names none refuses tokens: account management (password, email, sessions,
     * tokens, logout) is for logins only. The OpenAPI security requirement is derived from it.
     */
    scope?: TokenScope;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;
// Anything after the scheme: a personal access token's format is checked before it is hashed.
const BEARER_CREDENTIAL = /^Bearer (\S{1,200})$/i;
/** The OpenAPI security scheme of personal access tokens (plugins/docs.ts declares it). */
export const TOKEN_SECURITY_SCHEME = 'personalAccessToken';

/**
 * The sessions module: logins, their access and refresh tokens, and the per-request check of them.
 * Registered before the rate limit (which keys by the session's user) and before any module's routes
 * (which name `app.authenticate` when they are registered); the login flows themselves are modules/auth.
 */
async function sessions(app: FastifyInstance) {
  const { config } = app;
  app.decorate(
    'accessTokens',
    createAccessTokens({
      secret: config.jwtSecret,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      accessTtlMinutes: config.accessTokenExpireMinutes,
      clockSkewSeconds: config.jwtClockSkewSeconds,
    }),
  );
  // On the primary, always: the per-request session check (logout, deactivation, role) must see
  // every commit at once, which no replica promises. Read replicas serve only lag-tolerant reads.
  const repository = createSessionsRepository(app.db);
  app.decorate('sessionsRepository', repository);
  app.decorate('sessionsService', createSessionsService(repository));
  app.decorateRequest('currentUser', null as never);

  const cache =
    config.authCacheTtlMs > 0
      ? createSessionCache({
          connectionString: config.databaseUrl,
          // A cached login's check skips the per-request query, and with it the touch of last_used_at:
          // an entry lasts no longer than the touch's step, so a lookup still touches about once a step.
          ttlMs: Math.min(config.authCacheTtlMs, LAST_USED_STEP_SECONDS * 1000),
          maxEntries: 50_000,
          log: app.log,
        })
      : undefined;
  if (cache) {
    await cache.start();
    app.addHook('onClose', () => cache.close());
  }

  // A personal access token: never cached, one statement per request (the token, its user, its use).
  const findTokenUser = async (credential: string): Promise<CurrentUser | undefined> => {
    const hash = presentedTokenHash(credential);
    const found = hash && (await app.sessionsRepository.findTokenUser(hash));
    if (!found) return undefined;
    const { tokenId, scopes, ...user } = found;
    // An admin's powers go only with the admin scope: without it, the token acts as a user's.
    const role = scopes.includes('admin') ? user.role : 'user';
    return { ...user, role, sessionId: undefined as never, token: { id: tokenId, scopes, accountRole: user.role } };
  };

  // Role, activity and revocation come from the database (or the cache it invalidates), never from the token.
  const findSessionUser = async (request: FastifyRequest): Promise<CurrentUser | undefined> => {
    const header = request.headers.authorization ?? '';
    const credential = BEARER_CREDENTIAL.exec(header)?.[1];
    if (credential && isPersonalAccessToken(credential)) return findTokenUser(credential);
    const match = BEARER.exec(header);
    const claims = match?.[1] ? app.accessTokens.verify(match[1]) : undefined;
    if (!claims) return undefined;
    const userId = Number(claims.sub);
    let user = cache?.get(claims.sid, userId);
    if (!user) {
      const since = cache?.generation() ?? 0;
      user = await app.sessionsRepository.findSessionUser(claims.sid, userId);
      if (user?.is_active) cache?.set(claims.sid, user, since);
    }
    return user?.is_active ? { ...user, sessionId: claims.sid } : undefined;
  };
  // The rate limit (onRequest) keys by this user and authenticate (preParsing) needs it: one lookup.
  const checked = new WeakMap<FastifyRequest, Promise<CurrentUser | undefined>>();
  const sessionUser = (request: FastifyRequest) => {
    let found = checked.get(request);
    if (!found) {
      found = findSessionUser(request);
      checked.set(request, found);
    }
    return found;
  };
  const authenticate = async (request: FastifyRequest) => {
    const user = await sessionUser(request);
    if (!user) throw unauthorized();
    if (user.token) {
      const needed = request.routeOptions.config.scope;
      if (!needed || !covers(user.token.scopes, needed)) throw insufficientScope(needed);
    }
    request.currentUser = user;
  };
  // The document says what the routes enforce: a route's scope becomes its personal access token
  // requirement, next to the login schemes it names (a HEAD route shares its GET's schema: once).
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope;
    if (!scope) return;
    const security = route.schema?.security;
    if (!route.schema || !Array.isArray(security) || security.length === 0) {
      throw new Error(`${route.method} ${route.url} names a token scope but no security requirement`);
    }
    if (security.some((requirement) => TOKEN_SECURITY_SCHEME in requirement)) return;
    route.schema.security = [...security, { [TOKEN_SECURITY_SCHEME]: [scope] }];
  });
  app.decorate('sessionUser', sessionUser);
  app.decorate('authenticate', authenticate);
  app.decorate('requireRole', (role: Role) => async (request: FastifyRequest) => {
    await authenticate(request);
    if (request.currentUser.role !== role) throw forbidden();
  });
}

export default fp(sessions, { name: 'sessions', dependencies: ['config', 'db'] });

/**
 * The routes of a user's own sessions, under /api/v1: registered with the other modules' routes,
 * after the rate limit (which applies to the routes registered after it), not with the hooks above.
 */
export const sessionRoutes = fp(
  async (app: FastifyInstance) => {
    await app.register(routes, { prefix: '/api/v1' });
  },
  { name: 'session-routes', dependencies: ['sessions', 'rate-limit'] },
);
