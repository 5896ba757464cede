import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type HttpResponse, httpClient } from '../helpers/http.js';
import { createTask, expectProblem, INTERNAL_DETAIL } from '../helpers/security.js';

// OWASP API8:2023 / API9:2023, ASVS 5.0 (error handling, API and web service): error bodies reveal nothing
// internal; the docs, metrics and health routes expose no versions, secrets, user data or host names.
let db: TestDatabase;
let app: TestApp;
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
beforeAll(async () => {
  db = await createTestDatabase();
  app = await startApp(testConfig(db.url, { bodyLimitBytes: 2048 }), (a) => {
    a.get('/boom', async () => {
      throw new Error(`failed at /srv/task-api/src/x.ts:12 SELECT hashed_password FROM users ${db.url}`);
    });
  });
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

/** Strings that must appear in no answer: secrets, connection strings, host names, runtime versions. */
function secrets(): string[] {
  const { jwtSecret, passwordPepper, databaseUrl } = app.config;
  const url = new URL(databaseUrl);
  return [jwtSecret, passwordPepper, databaseUrl, url.host, os.hostname(), process.version, process.versions.v8];
}

function expectNothingInternal(res: HttpResponse, what: string) {
  for (const secret of secrets()) expect(res.text, what).not.toContain(secret);
}

describe('error bodies', () => {
  it('every error that can be provoked is problem+json with no stack, path, SQL, library name or secret', async () => {
    const user = await registerAndLogin(app.api);
    const root = httpClient(app.baseUrl);
    const json = { 'content-type': 'application/json' };
    const task = await createTask(app.api, user.token);
    const errors: Array<[number, Promise<HttpResponse>]> = [
      [400, app.api.post('/tasks', undefined, { token: user.token, raw: '{"title":', headers: json })],
      [400, app.api.post('/tasks', undefined, { token: user.token, raw: '', headers: json })],
      [400, app.api.post('/tasks', undefined, { token: user.token, raw: '{"__proto__":{"x":1}}', headers: json })],
      [400, root.get('/api/v1/tasks/%E0%A4%A')],
      [401, app.api.get('/users/me', { token: 'a.b.c' })],
      [403, app.api.get('/users', { token: user.token })],
      [403, app.api.patch('/users/me', { email: 'n@example.com', current_password: 'wrong-password' }, { token: user.token })],
      [404, app.api.get('/tasks/999999', { token: user.token })],
      [404, root.get('/api/v2/anything')],
      [405, root.request('PUT', '/api/v1/users/me')],
      [409, app.api.post('/auth/register', { username: user.username, email: user.email, password: 'password-1' })],
      [412, app.api.patch(`/tasks/${task.id}`, { title: 'x' }, { token: user.token, headers: { 'if-match': '"nope"' } })],
      [413, app.api.post('/tasks', { title: 'x'.repeat(5000) }, { token: user.token })],
      [414, app.api.get(`/tasks/${'1'.repeat(500)}`, { token: user.token })],
      [
        415,
        app.api.post('/tasks', undefined, { token: user.token, raw: '<x/>', headers: { 'content-type': 'application/xml' } }),
      ],
      [422, app.api.post('/tasks', { title: 5, description: ['x'], extra: true }, { token: user.token })],
      [422, app.api.get('/tasks?limit=abc&sort=x;DROP', { token: user.token })],
      [422, app.api.get('/tasks/abc', { token: user.token })],
      [500, root.get('/boom')],
    ];
    for (const [status, pending] of errors) {
      const res = await pending;
      expectProblem(res, status);
      expect(Object.keys(res.body).sort(), String(status)).toEqual(
        res.body.errors ? ['detail', 'errors', 'status', 'title', 'type'] : ['detail', 'status', 'title', 'type'],
      );
      expectNothingInternal(res, String(status));
    }
    const boom = await root.get('/boom');
    expect(boom.body.detail).toBe('Internal server error');
  });

  it('an unparsable HTTP request and oversized headers are answered as problem+json with nothing internal', async () => {
    const res = await fetch(`${app.baseUrl}/api/v1/users/me`, { headers: { 'x-big': 'x'.repeat(20_000) } });
    const text = await res.text();
    expect(res.status).toBe(431);
    expect(text).not.toMatch(INTERNAL_DETAIL);
  });
});

describe('public routes', () => {
  it('/healthz says only that it is up; /readyz names its checks and their state, nothing else', async () => {
    const direct = await fetch(`${app.baseUrl}/healthz`);
    expect(await direct.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.baseUrl}/readyz`);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    expect(Object.keys(body).sort()).toEqual(['checks', 'status']);
    for (const [name, value] of Object.entries(body.checks)) {
      expect(['database', 'redis']).toContain(name);
      expect(['ok', 'failing']).toContain(value);
    }
  });

  it('/openapi.json and /docs: no server addresses, secrets, host names, runtime versions or user data', async () => {
    const user = await registerAndLogin(app.api);
    for (const path of ['/openapi.json', '/docs', '/docs/json', '/docs/static/swagger-initializer.js']) {
      const res = await httpClient(app.baseUrl).get(path);
      expect(res.status, path).toBe(200);
      expectNothingInternal(res, path);
      expect(res.text, path).not.toContain(user.username);
      expect(res.text, path).not.toContain(user.email);
      expect(res.headers.get('server'), path).toBeNull();
    }
    const doc = (await (await fetch(`${app.baseUrl}/openapi.json`)).json()) as {
      servers?: { url: string }[];
      info: { version: string };
    };
    // The document names its server by a relative URL only: no host, address or port of an instance.
    expect((doc.servers ?? []).map((server) => server.url)).toEqual(['/']);
    // The package's version (openapi-components.test.ts checks they agree), not the runtime's.
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('/metrics: route patterns and counts only — no Node.js version, ids, user names, emails or secrets', async () => {
    const user = await registerAndLogin(app.api);
    const task = await createTask(app.api, user.token, 'metrics-visible-title');
    await app.api.get(`/tasks/${task.id}`, { token: user.token });
    await app.api.get(`/tasks?q=${user.username}`, { token: user.token });
    const res = await httpClient(app.baseUrl).get('/metrics');
    expect(res.status).toBe(200);
    expectNothingInternal(res, '/metrics');
    expect(res.text).not.toMatch(/version_info|\bv\d+\.\d+\.\d+/);
    expect(res.text).not.toContain(user.username);
    expect(res.text).not.toContain(user.email);
    expect(res.text).not.toContain('metrics-visible-title');
    expect(res.text).not.toContain(`/tasks/${task.id}`);
    expect(res.text).toContain('route="/api/v1/tasks/:id"');
  });

  it('with METRICS_TOKEN, /metrics needs exactly that bearer token; an API token is not it', async () => {
    const guarded = await startApp(testConfig(db.url, { metricsToken: METRICS_TOKEN }));
    try {
      const user = await registerAndLogin(guarded.api);
      const get = (authorization?: string) =>
        httpClient(guarded.baseUrl).get('/metrics', authorization ? { headers: { authorization } } : {});
      expectProblem(await get(), 401);
      expectProblem(await get(`Bearer ${user.token}`), 401);
      expectProblem(await get(`Bearer ${METRICS_TOKEN}x`), 401);
      expectProblem(await get(`Bearer ${METRICS_TOKEN.slice(0, -1)}`), 401);
      expectProblem(await get(`Basic ${METRICS_TOKEN}`), 401);
      const ok = await get(`Bearer ${METRICS_TOKEN}`);
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('http_requests_total');
    } finally {
      await guarded.close();
    }
  });

  it('no response says what server software it is', async () => {
    for (const path of ['/healthz', '/openapi.json', '/api/v1/users/me', '/nope']) {
      const res = await fetch(`${app.baseUrl}${path}`);
      await res.text();
      expect(res.headers.get('server'), path).toBeNull();
      expect(res.headers.get('x-powered-by'), path).toBeNull();
      expect(res.headers.get('x-instance'), path).toBeNull();
    }
  });
});
