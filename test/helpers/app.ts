import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { buildApp } from '../../src/app.js';
import { type AppConfig, loadConfig } from '../../src/config.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { type HttpClient, httpClient } from './http.js';

/**
 * Test configuration: fast bcrypt, fresh secrets, and (unless a test asks for them) no rate limits
 * and no statistics cache, so suites that make many requests measure what they mean to.
 * With TEST_REDIS_URL set (CI's second run) every app uses Redis, under a prefix of its own: the
 * whole suite then runs in the Redis configuration, as the first run does in the in-memory one.
 */
export function testConfig(databaseUrl: string, overrides: Partial<AppConfig> = {}): AppConfig {
  return {
    ...loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      BCRYPT_COST: '4',
      RATE_LIMIT_ENABLED: 'false',
      STATS_CACHE_TTL_MS: '0',
    }),
    databaseUrl,
    redisUrl: process.env.TEST_REDIS_URL,
    redisKeyPrefix: `task-api-test:${randomBytes(4).toString('hex')}:`,
    // Development-mode mail (.eml files, no SMTP_URL) goes to a temporary directory, not the checkout's ./data.
    dataDir: path.join(os.tmpdir(), 'task-api-test-data'),
    jwtSecret: randomBytes(32).toString('base64url'),
    passwordPepper: randomBytes(32).toString('base64url'),
    ...overrides,
  };
}

/** Rate limits on, at their defaults but for `changes`. */
export function limitsOn(changes: Partial<AppConfig['rateLimit']> = {}): AppConfig['rateLimit'] {
  return { ...loadConfig({ NODE_ENV: 'test' }).rateLimit, enabled: true, ...changes };
}

/** Rate limits on, with budgets out of reach: their code and headers run without limiting anyone. */
export function limitsOutOfReach(): AppConfig['rateLimit'] {
  const out = 1_000_000;
  return {
    ...limitsOn(),
    max: out,
    authMax: out,
    loginFailureMax: out,
    loginFailureAccountMax: out,
  };
}

export interface TestApp {
  app: FastifyInstance;
  baseUrl: string;
  api: HttpClient;
  config: AppConfig;
  close(): Promise<void>;
}

/**
 * The application listening on a random local port, spoken to over real HTTP.
 * `prepare` runs before listen, for tests that add a route of their own.
 */
export async function startApp(config: AppConfig, prepare?: (app: FastifyInstance) => void): Promise<TestApp> {
  const app = await buildApp(config);
  prepare?.(app);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, baseUrl: address, api: httpClient(`${address}/api/v1`), config, close: () => app.close() };
}

export interface TestContext extends TestApp {
  db: TestDatabase;
}

/** A fresh database and an app on it. */
export async function setupTestApp(overrides: Partial<AppConfig> = {}): Promise<TestContext> {
  const db = await createTestDatabase();
  const started = await startApp(testConfig(db.url, overrides));
  return {
    ...started,
    db,
    close: async () => {
      await started.close();
      await db.drop();
    },
  };
}

let counter = 0;

export function uniqueUser(prefix = 'user') {
  counter += 1;
  const name = `${prefix}${counter}_${randomBytes(3).toString('hex')}`;
  return { username: name, email: `${name}@example.com`, password: `pw-${randomBytes(8).toString('hex')}` };
}

/** The session (login) an access token belongs to: its `sid` claim. */
export const sessionIdOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sid;

/** Registers and logs in a new user; returns its credentials and tokens. */
export async function registerAndLogin(api: HttpClient, prefix = 'user') {
  const credentials = uniqueUser(prefix);
  const registered = await api.post('/auth/register', credentials);
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
  const login = await api.post('/auth/login', { username: credentials.username, password: credentials.password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return {
    ...credentials,
    id: registered.body.id as number,
    token: login.body.access_token as string,
    refreshToken: login.body.refresh_token as string,
  };
}

/**
 * For a suite that starts apps with settings of its own on one database: the database is created
 * before the suite and dropped after it, and each test's apps are closed when the test ends.
 */
export function appsOnOneDatabase(): { start(overrides?: Partial<AppConfig>): Promise<TestApp> } {
  let db: TestDatabase;
  const started: TestApp[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((app) => app.close()));
  });
  afterAll(() => db?.drop());
  return {
    async start(overrides = {}) {
      const app = await startApp(testConfig(db.url, overrides));
      started.push(app);
      return app;
    },
  };
}
