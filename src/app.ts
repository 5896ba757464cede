import cors from '@fastify/cors';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from './config.js';
import adminRoutes from './modules/admin/routes.js';
import authRoutes from './modules/auth/routes.js';
import tasksRoutes from './modules/tasks/routes.js';
import usersRoutes from './modules/users/routes.js';
import auth from './plugins/auth.js';
import db from './plugins/db.js';
import docs from './plugins/docs.js';
import errors from './plugins/errors.js';
import validation from './plugins/validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig;
  }
}

/** Fields that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'body.password',
  'body.refresh_token',
  'body.current_password',
  'config.firstAdmin.password',
];

export interface BuildOptions {
  /** The process's logger; without one the app makes its own at `config.logLevel`. */
  loggerInstance?: FastifyBaseLogger;
}

/** The whole application, without a listening socket or process concerns: what tests build. */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.loggerInstance
      ? { loggerInstance: options.loggerInstance }
      : { logger: { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } } }),
    bodyLimit: config.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('config', config);
  await app.register(fp(async () => {}, { name: 'config' }));
  await app.register(errors);
  await app.register(validation);
  await app.register(cors, {
    origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
    credentials: false,
    exposedHeaders: ['Location', 'WWW-Authenticate'],
  });
  await app.register(docs);
  await app.register(db);
  await app.register(auth);

  await app.register(
    async (api) => {
      await api.register(authRoutes);
      await api.register(usersRoutes);
      await api.register(tasksRoutes);
      await api.register(adminRoutes);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
