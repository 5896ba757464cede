import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';

/**
 * The OpenAPI document as the server serves it, generated from the route schemas by an app that never
 * listens and never connects to a database (the pool connects lazily, and no query runs), with rate
 * limits on so that their headers are documented. For linting, for the typed client, and for tests.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const app = await buildApp({
    ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'true' }),
    // Never reached: the document is generated from route schemas alone.
    databaseUrl: 'postgres://openapi@127.0.0.1:1/openapi',
    jwtSecret: 'x'.repeat(32),
    passwordPepper: 'x'.repeat(32),
  });
  try {
    await app.ready();
    return structuredClone(app.swagger()) as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
