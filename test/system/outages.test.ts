import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { runMigrations } from '../../src/db/migrate.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import { httpClient } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';
import { type RedisServer, startRedisServer } from '../helpers/redis.js';

const quiet = { info: () => {}, debug: () => {}, warn: () => {} };

/** Polls until `check` passes or the deadline: recovery has to happen by itself, within a bound. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not recovered within ${timeoutMs} ms`);
    await sleep(200);
  }
}

describe('PostgreSQL down', () => {
  const dir = path.join(os.tmpdir(), `task-api-outage-${randomBytes(4).toString('hex')}`);
  let port: number;
  let db: EmbeddedPostgres;
  let t: TestApp;
  let user: Awaited<ReturnType<typeof registerAndLogin>>;

  const startDb = async () => {
    db = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), port, log: quiet });
  };

  beforeAll(async () => {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    port = await freePort();
    await startDb();
    await runMigrations(db.url);
    t = await startApp(testConfig(db.url, { dbConnectionTimeoutMs: 1_000, dbStatementTimeoutMs: 2_000 }));
    user = await registerAndLogin(t.api);
  });
  afterAll(async () => {
    await t?.close();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 problem+json with Retry-After, within a bound, and recovers by itself', async () => {
    expect((await t.api.get('/tasks', { token: user.token })).status).toBe(200);
    await db.stop();

    for (const request of [
      () => t.api.get('/tasks', { token: user.token }),
      () => t.api.post('/tasks', { title: 'while down' }, { token: user.token }),
      () => t.api.post('/auth/login', { username: user.username, password: user.password }),
    ]) {
      const started = Date.now();
      const res = await request();
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|password/);
      // Bounded by the connection timeout (1 s here), not hanging until a client gives up.
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    const ready = await httpClient(t.baseUrl).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toBe('failing');
    expect((await httpClient(t.baseUrl).get('/healthz')).status).toBe(200);

    await startDb();
    await eventually(async () => (await t.api.get('/tasks', { token: user.token })).status === 200);
    expect((await t.api.post('/tasks', { title: 'after' }, { token: user.token })).status).toBe(201);
    expect((await httpClient(t.baseUrl).get('/readyz')).status).toBe(200);
  });

  it('a statement that outlasts DB_STATEMENT_TIMEOUT_MS is a 503, not a hang', async () => {
    // Hold a lock the next update needs, for longer than the statement timeout (2 s).
    const task = (await t.api.post('/tasks', { title: 'locked' }, { token: user.token })).body;
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE', [task.id]);
      const res = await t.api.patch(`/tasks/${task.id}`, { title: 'waits' }, { token: user.token });
      expect(res.status).toBe(503);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect((await t.api.patch(`/tasks/${task.id}`, { title: 'free' }, { token: user.token })).status).toBe(200);
  });
});

describe('Redis down', () => {
  let redis: RedisServer;
  let t: TestApp;
  let dbDrop: () => Promise<void>;
  beforeAll(async () => {
    redis = await startRedisServer();
    const { createTestDatabase } = await import('../helpers/db.js');
    const db = await createTestDatabase();
    dbDrop = db.drop;
    t = await startApp(
      testConfig(db.url, {
        redisUrl: redis.url,
        redisKeyPrefix: `outage-${randomBytes(3).toString('hex')}:`,
        rateLimit: { ...testConfig(db.url).rateLimit, enabled: true, max: 1000 },
      }),
    );
  });
  afterAll(async () => {
    await t?.close();
    await redis?.stop();
    await dbDrop?.();
  });

  it('requests keep being served with per-instance limits; readiness reports Redis; recovery is automatic', async () => {
    const user = await registerAndLogin(t.api);
    expect((await httpClient(t.baseUrl).get('/readyz')).body.checks.redis).toBe('ok');
    await redis.stop();
    const res = await t.api.get('/users/me', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('1000');
    const ready = await httpClient(t.baseUrl).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ database: 'ok', redis: 'failing' });

    await redis.start();
    await eventually(async () => (await httpClient(t.baseUrl).get('/readyz')).status === 200);
    expect((await t.api.get('/users/me', { token: user.token })).status).toBe(200);
  });

  it('a revoked token stays revoked when Redis restarts empty', async () => {
    const user = await registerAndLogin(t.api);
    expect((await t.api.post('/auth/logout', undefined, { token: user.token })).status).toBe(204);
    await redis.stop();
    await redis.start();
    await eventually(async () => (await httpClient(t.baseUrl).get('/readyz')).status === 200);
    expect((await t.api.get('/users/me', { token: user.token })).status).toBe(401);
  });
});
