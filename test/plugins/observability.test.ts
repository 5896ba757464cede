import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { AppConfig } from '../../src/config.js';
import { REDACTED_PATHS } from '../../src/logger.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type HttpClient, type HttpResponse, httpClient } from '../helpers/http.js';
import { type RedisServer, sharedRedis, startRedisServer } from '../helpers/redis.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const started: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((a) => a.close()));
});

async function start(overrides: Partial<AppConfig> = {}): Promise<TestApp> {
  const app = await startApp(testConfig(db.url, overrides));
  started.push(app);
  return app;
}

interface LoggedApp {
  app: FastifyInstance;
  baseUrl: string;
  api: HttpClient;
  /** Every log line written so far, parsed. */
  lines(): Array<Record<string, any>>;
  /** Every log line written so far, as written. */
  raw(): string;
}

/** The app with a pino logger (the production redaction) writing into memory. */
async function startLogged(overrides: Partial<AppConfig> = {}): Promise<LoggedApp> {
  let written = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      written += chunk.toString();
      callback();
    },
  });
  const logger = pino({ level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
  const app = await buildApp(testConfig(db.url, overrides), { loggerInstance: logger });
  app.get('/test/boom', async () => {
    throw new Error('kaboom');
  });
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  started.push({ close: () => app.close() });
  return {
    app,
    baseUrl,
    api: httpClient(`${baseUrl}/api/v1`),
    raw: () => written,
    lines: () =>
      written
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l)),
  };
}

/** The request line is written as the response finishes: wait until each of these requests has one. */
async function settle(logged: LoggedApp, responses: HttpResponse[] | Response[]) {
  const ids = responses.map((r) => r.headers.get('x-request-id'));
  const deadline = Date.now() + 5_000;
  const done = () => {
    const loggedIds = new Set(
      logged
        .lines()
        .filter((l) => l.msg === 'request' || l.msg === 'request failed')
        .map((l) => l.request_id),
    );
    return ids.every((id) => loggedIds.has(id));
  };
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('X-Request-Id', () => {
  it('echoes a well-formed incoming id, replaces a malformed one with a UUID, and generates one when absent', async () => {
    const { api } = await start();
    const echoed = await api.get('/tasks', { headers: { 'x-request-id': 'abc-123_x.y:z' } });
    expect(echoed.headers.get('x-request-id')).toBe('abc-123_x.y:z');

    const none = await api.get('/tasks');
    expect(none.headers.get('x-request-id')).toMatch(UUID);
    const again = await api.get('/tasks');
    expect(again.headers.get('x-request-id')).toMatch(UUID);
    expect(again.headers.get('x-request-id')).not.toBe(none.headers.get('x-request-id'));

    for (const bad of ['has spaces in it', 'x'.repeat(200), '<script>alert(1)</script>', 'a\tb', 'ok"quote', '']) {
      const res = await api.get('/tasks', { headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id'), JSON.stringify(bad)).toMatch(UUID);
    }
    // The longest accepted id (128 characters) is kept as is; one more is not.
    const longest = 'a'.repeat(128);
    expect((await api.get('/tasks', { headers: { 'x-request-id': longest } })).headers.get('x-request-id')).toBe(longest);
    expect((await api.get('/tasks', { headers: { 'x-request-id': `${longest}a` } })).headers.get('x-request-id')).toMatch(UUID);
  });

  it('is on every kind of response: success, error, unknown path, health', async () => {
    const { api, baseUrl } = await start();
    const user = await registerAndLogin(api);
    const responses = [
      await api.get('/users/me', { token: user.token }),
      await api.get('/tasks/999999', { token: user.token }),
      await api.get('/no-such-path'),
      await api.post('/tasks', { title: 1 }, { token: user.token }),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 404, 404, 422]);
    for (const r of responses) expect(r.headers.get('x-request-id')).toMatch(UUID);
    const health = await fetch(`${baseUrl}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
    expect(health.headers.get('x-request-id')).toBe('probe-1');
  });
});

describe('request logs', () => {
  it('writes exactly one line per request with id, method, route pattern, status, duration and user', async () => {
    const logged = await startLogged();
    const { api } = logged;
    const user = await registerAndLogin(api);
    const created = await api.post('/tasks', { title: 'logged' }, { token: user.token });
    expect(created.status).toBe(201);

    const requests: Array<[HttpResponse, Record<string, unknown>]> = [];
    const track = async (res: Promise<HttpResponse>, expected: Record<string, unknown>) => {
      const r = await res;
      requests.push([r, expected]);
      return r;
    };
    await track(api.get(`/tasks/${created.body.id}`, { token: user.token, headers: { 'x-request-id': 'trace-me-1' } }), {
      method: 'GET',
      route: '/api/v1/tasks/:id',
      status: 200,
      user_id: user.id,
    });
    await track(api.patch(`/tasks/${created.body.id}`, { status: 'completed' }, { token: user.token }), {
      method: 'PATCH',
      route: '/api/v1/tasks/:id',
      status: 200,
      user_id: user.id,
    });
    await track(api.get('/tasks/999999', { token: user.token }), {
      method: 'GET',
      route: '/api/v1/tasks/:id',
      status: 404,
      user_id: user.id,
    });
    await track(api.get('/users/me'), { method: 'GET', route: '/api/v1/users/me', status: 401 });
    await track(api.get('/users/me', { token: user.token }), {
      method: 'GET',
      route: '/api/v1/users/me',
      status: 200,
      user_id: user.id,
    });
    await settle(
      logged,
      requests.map(([r]) => r),
    );

    const lines = logged.lines();
    // Fastify's own pair of request lines is off.
    expect(lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
    for (const [res, expected] of requests) {
      const id = res.headers.get('x-request-id');
      expect(id).toBeTruthy();
      const mine = lines.filter((l) => l.request_id === id && (l.msg === 'request' || l.msg === 'request failed'));
      expect(mine, `log lines for ${expected.method} ${expected.route} ${expected.status}`).toHaveLength(1);
      const line = mine[0]!;
      expect(line).toMatchObject({ ...expected, msg: 'request', level: 30 });
      expect(typeof line.duration_ms).toBe('number');
      expect(line.duration_ms).toBeGreaterThanOrEqual(0);
      expect(line.duration_ms).toBeLessThan(10_000);
      if (!('user_id' in expected)) expect(line.user_id).toBeUndefined();
    }
    expect(requests[0]![0].headers.get('x-request-id')).toBe('trace-me-1');
    // One line for each request made, and no more.
    const requestLines = lines.filter((l) => l.msg === 'request' || l.msg === 'request failed');
    expect(requestLines).toHaveLength(requests.length + 3); // + register, login and create above
  });

  it('logs a 5xx as "request failed" at error level, once, with its request id', async () => {
    const logged = await startLogged();
    const res = await fetch(`${logged.baseUrl}/test/boom`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as any;
    expect(body.detail).toBe('Internal server error');
    expect(JSON.stringify(body)).not.toContain('kaboom');
    await settle(logged, [res]);
    const id = res.headers.get('x-request-id');
    const mine = logged.lines().filter((l) => l.request_id === id && (l.msg === 'request' || l.msg === 'request failed'));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ msg: 'request failed', level: 50, method: 'GET', route: '/test/boom', status: 500 });
    expect(typeof mine[0]!.duration_ms).toBe('number');
  });

  it('never writes passwords, tokens or Authorization headers', async () => {
    const logged = await startLogged();
    const { api } = logged;
    const user = await registerAndLogin(api);
    const me = await api.get('/users/me', { token: user.token });
    expect(me.status).toBe(200);
    const refreshed = await api.post('/auth/refresh', { refresh_token: user.refreshToken });
    expect(refreshed.status).toBe(200);
    const logout = await api.post('/auth/logout', undefined, { token: refreshed.body.access_token });
    expect(logout.status).toBe(204);
    // Failures too: a wrong password, a spent refresh token, a revoked access token.
    expect((await api.post('/auth/login', { username: user.username, password: `${user.password}-wrong` })).status).toBe(401);
    expect((await api.post('/auth/refresh', { refresh_token: user.refreshToken })).status).toBe(401);
    const revoked = await api.get('/users/me', { token: refreshed.body.access_token });
    expect(revoked.status).toBe(401);
    await settle(logged, [revoked]);

    const text = logged.raw();
    // The log did record these requests (so the absence below means something).
    expect(logged.lines().filter((l) => l.msg === 'request').length).toBeGreaterThanOrEqual(8);
    expect(text).toContain('/api/v1/auth/login');
    for (const secret of [
      user.password,
      user.token,
      user.refreshToken,
      refreshed.body.access_token,
      refreshed.body.refresh_token,
    ] as string[]) {
      expect(secret.length).toBeGreaterThan(8);
      expect(text).not.toContain(secret);
      // Nor a recognisable piece of one (a JWT's signature).
      expect(text).not.toContain(secret.split('.').at(-1));
    }
    expect(text).not.toContain('Bearer ');
  });
});

describe('health checks', () => {
  it('/healthz is 200 {status: ok}; /readyz checks the database (and Redis when configured)', async () => {
    const plain = await start({ redisUrl: undefined });
    const live = await fetch(`${plain.baseUrl}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${plain.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'ok' } });

    const redis = await sharedRedis();
    try {
      const withRedis = await start({ redisUrl: redis.url });
      const res = await fetch(`${withRedis.baseUrl}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    } finally {
      await redis.stop();
    }
  });

  describe('with a Redis that goes away', () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(() => server?.stop());

    it('/readyz is 503 naming redis as failing, without internal details, while /healthz stays 200', async () => {
      const { baseUrl } = await start({ redisUrl: server.url });
      expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
      await server.stop();

      const res = await fetch(`${baseUrl}/readyz`);
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toEqual({ status: 'unavailable', checks: { database: 'ok', redis: 'failing' } });
      expect(text).not.toMatch(/ECONNREFUSED|Stream|writeable|127\.0\.0\.1|redis:\/\//i);
      expect(text).not.toContain(String(server.port));

      const live = await fetch(`${baseUrl}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });

      await server.start();
      const deadline = Date.now() + 15_000;
      let back = await fetch(`${baseUrl}/readyz`);
      while (back.status !== 200 && Date.now() < deadline) {
        await back.text();
        await new Promise((r) => setTimeout(r, 100));
        back = await fetch(`${baseUrl}/readyz`);
      }
      expect(back.status).toBe(200);
      expect(await back.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    });
  });

  it('/readyz is 503 once shutdown has begun, while /healthz stays 200', async () => {
    const { app, baseUrl } = await start();
    expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);
    app.lifecycle.shuttingDown = true;
    const res = await fetch(`${baseUrl}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect(body.status).toBe('unavailable');
    expect(body.checks.shutdown).toEqual(expect.any(String));
    expect(body.checks.database).toBe('ok');
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('/metrics', () => {
  const meCount = (text: string) => {
    const match = /^http_requests_total\{method="GET",route="\/api\/v1\/users\/me",status_code="200"\} (\d+)$/m.exec(text);
    return match ? Number(match[1]) : undefined;
  };

  it('serves Prometheus text with request counts by route, durations, the pool and the process', async () => {
    const { api, baseUrl } = await start();
    const user = await registerAndLogin(api);
    const before = await fetch(`${baseUrl}/metrics`);
    expect(meCount(await before.text())).toBeUndefined();

    for (let i = 0; i < 3; i++) expect((await api.get('/users/me', { token: user.token })).status).toBe(200);
    expect((await api.get('/users/me')).status).toBe(401);

    const res = await fetch(`${baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(meCount(text)).toBe(3);
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/api\/v1\/users\/me",status_code="401"\} 1$/m);
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/api\/v1\/auth\/login",status_code="200"\} 1$/m);
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/api\/v1\/users\/me",status_code="200"\} 3$/m,
    );
    expect(text).toMatch(
      /^http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/users\/me",status_code="200"\} 3$/m,
    );
    expect(text).toMatch(/^db_pool_connections\{state="total"\} \d+$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    // Route patterns, never concrete paths (bounded label values).
    expect(text).not.toMatch(/route="\/api\/v1\/tasks\/\d+"/);

    // More requests, a higher count.
    await api.get('/users/me', { token: user.token });
    expect(meCount(await (await fetch(`${baseUrl}/metrics`)).text())).toBe(4);
  });

  it('labels requests by route pattern, not by path', async () => {
    const { api, baseUrl } = await start();
    const user = await registerAndLogin(api);
    for (const id of [111111, 222222]) expect((await api.get(`/tasks/${id}`, { token: user.token })).status).toBe(404);
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/api\/v1\/tasks\/:id",status_code="404"\} 2$/m);
    expect(text).not.toContain('111111');
  });

  it('with NODE_ENV=production, is not served without METRICS_TOKEN, and is served only with it', async () => {
    const open = await start({ nodeEnv: 'production' });
    const refused = await fetch(`${open.baseUrl}/metrics`);
    expect(refused.status).toBe(404);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await refused.text()).not.toContain('http_requests_total');
    const doc = (await (await fetch(`${open.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).not.toContain('/metrics');

    const token = 'metrics-token-0123456789abcdef-production';
    const guarded = await start({ nodeEnv: 'production', metricsToken: token });
    expect((await fetch(`${guarded.baseUrl}/metrics`)).status).toBe(401);
    const ok = await fetch(`${guarded.baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('http_requests_total');
  });

  it('with metricsToken set, requires it as a Bearer token', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const { baseUrl } = await start({ metricsToken: token });
    const none = await fetch(`${baseUrl}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await none.json()) as any;
    expect(problem.status).toBe(401);
    expect(typeof problem.detail).toBe('string');

    for (const authorization of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, 'Bearer wrong', token, `Basic ${token}`]) {
      const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(await res.text()).not.toContain('http_requests_total');
    }

    const ok = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toContain('http_requests_total');
  });
});
