import cors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';
import type { AppConfig } from './config.js';
import { LOG_SERIALIZERS, REDACTED_PATHS } from './logger.js';
import accessTokens from './modules/access-tokens/index.js';
import admin from './modules/admin/index.js';
import auth from './modules/auth/index.js';
import emailVerification from './modules/email-verification/index.js';
import events from './modules/events/index.js';
import mail from './modules/mail/index.js';
import passwordReset from './modules/password-reset/index.js';
import projects from './modules/projects/index.js';
import sessions, { sessionRoutes } from './modules/sessions/index.js';
import stream from './modules/stream/index.js';
import tasks from './modules/tasks/index.js';
import users from './modules/users/index.js';
import webhooks from './modules/webhooks/index.js';
import charset from './plugins/charset.js';
import db from './plugins/db.js';
import docs from './plugins/docs.js';
import errors, { clientErrorHandler, routerErrorHandler } from './plugins/errors.js';
import health from './plugins/health.js';
import httpCache from './plugins/http-cache.js';
import maintenance from './plugins/maintenance.js';
import metrics from './plugins/metrics.js';
import observability, { requestId } from './plugins/observability.js';
import rateLimit from './plugins/rate-limit.js';
import redis from './plugins/redis.js';
import replicas from './plugins/replicas.js';
import singletonHeaders from './plugins/singleton-headers.js';
import validation from './plugins/validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig;
  }
}

/**
 * Security headers on every response (helmet). Swagger UI loads only its own scripts and styles;
 * nothing inline runs. TLS ends at the proxy, so upgrading requests and HSTS are the proxy's to decide.
 */
const SECURITY_HEADERS = {
  contentSecurityPolicy: {
    useDefaults: true,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'", "'unsafe-inline'"],
      'img-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'frame-ancestors': ["'none'"],
      'upgrade-insecure-requests': null,
    },
  },
  hsts: false,
} as const;

export interface BuildOptions {
  /** The process's logger; without one the app makes its own at `config.logLevel`. */
  loggerInstance?: FastifyBaseLogger;
}

/** The whole application, without a listening socket or process concerns: what tests build. */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.loggerInstance
      ? { loggerInstance: options.loggerInstance }
      : {
          logger: {
            level: config.logLevel,
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            serializers: LOG_SERIALIZERS,
          },
        }),
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestId,
    // One line per request comes from the observability plugin instead of Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    clientErrorHandler,
    // The router's own errors are answered before any hook runs: they get the same headers here.
    frameworkErrors: routerErrorHandler(helmet(SECURITY_HEADERS)),
    // A hop count is valid at run time (proxy-addr); the type omits it.
    trustProxy: config.trustProxy as boolean | string[],
    // Slow clients are cut off; idle keep-alive connections outlive a proxy's (nginx: 60 s).
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // A request that reaches the app while it closes is served (with `Connection: close`), not
    // answered by Fastify's bare 503: a proxy does not retry a POST it has sent.
    return503OnClosing: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.headersTimeout = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  // Node checks those timeouts every 30 s by default: check often enough that they mean what they say.
  (app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    1_000,
    app.server.headersTimeout / 2,
  );

  app.decorate('config', config);
  await app.register(fp(async () => {}, { name: 'config' }));
  await app.register(errors);
  await app.register(validation);
  await app.register(charset);
  await app.register(fastifyHelmet, SECURITY_HEADERS);
  await app.register(cors, {
    origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
    credentials: false,
    // @fastify/cors allows only GET, HEAD and POST unless told: browsers on an allowed origin need every method the API has.
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    exposedHeaders: [
      'Location',
      'ETag',
      'Link',
      'X-Total-Count',
      'X-Request-Id',
      'Retry-After',
      'WWW-Authenticate',
      'Idempotent-Replayed',
    ],
  });
  await app.register(db);
  await app.register(redis);
  // Before the rate limit (keyed by the session's user) and before any routes (they name app.authenticate).
  await app.register(sessions);
  await app.register(observability);
  await app.register(singletonHeaders);
  await app.register(metrics);
  await app.register(replicas);
  await app.register(events);
  await app.register(rateLimit);
  await app.register(docs);
  await app.register(httpCache);
  await app.register(health);

  // Module plugins build their repository and service once and register their routes under /api/v1.
  // Mail first: users (an email change) and auth (registration) queue verification mails.
  await app.register(mail);
  await app.register(emailVerification);
  await app.register(users);
  await app.register(auth);
  await app.register(sessionRoutes);
  await app.register(passwordReset);
  await app.register(accessTokens);
  await app.register(tasks);
  await app.register(projects);
  await app.register(admin);
  await app.register(webhooks);
  await app.register(stream);
  // After the modules whose repositories it prunes through.
  await app.register(maintenance);
  // Unknown paths spend the same budget as known ones.
  app.setNotFoundHandler(app.hasDecorator('rateLimit') ? { preHandler: app.rateLimit() } : {}, app.notFoundHandler);
  return app;
}
