import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { describeOp, type Operation, operations } from '../helpers/openapi.js';

// OWASP API8:2023 (security misconfiguration), REST Security cheat sheet (security headers, CORS):
// every kind of response carries the security headers; CORS allows only the allow-list, never credentials.
let db: TestDatabase;
let open: TestApp;
let listed: TestApp;
let ops: Operation[];
const ALLOWED = 'https://app.example.com';
beforeAll(async () => {
  db = await createTestDatabase();
  open = await startApp(
    testConfig(db.url, {
      bodyLimitBytes: 1024,
      rateLimit: { ...testConfig(db.url).rateLimit, enabled: true, max: 1000, authMax: 1000 },
    }),
    (app) => {
      app.get('/boom', async () => {
        throw new Error('boom at /srv/app/src/secret.ts:1 SELECT hashed_password FROM users');
      });
    },
  );
  listed = await startApp(testConfig(db.url, { corsOrigins: [ALLOWED] }));
  ops = await operations(open.baseUrl);
});
afterAll(async () => {
  await open?.close();
  await listed?.close();
  await db?.drop();
});

function expectSecurityHeaders(headers: Headers, what: string) {
  expect(headers.get('x-content-type-options'), what).toBe('nosniff');
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp, what).toContain("default-src 'self'");
  expect(csp, what).toContain("frame-ancestors 'none'");
  expect(csp, what).toContain("object-src 'none'");
  expect(csp, what).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
  expect(headers.get('x-frame-options'), what).toMatch(/^(DENY|SAMEORIGIN)$/);
  expect(headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(headers.get('cross-origin-resource-policy'), what).toBe('same-origin');
  expect(headers.get('x-powered-by'), what).toBeNull();
  expect(headers.get('server'), what).toBeNull();
}

const raw = (path: string, init: RequestInit = {}) => fetch(`${open.baseUrl}${path}`, init);

describe('security headers', () => {
  it('on every route of /openapi.json, answered without credentials (401, 200 or 422)', async () => {
    expect(ops.length).toBeGreaterThanOrEqual(15);
    for (const op of ops) {
      const res = await raw(op.path.replace(/\{[^}]+\}/g, '1'), {
        method: op.method,
        ...(Object.keys(op.bodies).length ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
      });
      await res.text();
      expectSecurityHeaders(res.headers, `${describeOp(op)} → ${res.status}`);
    }
  });

  it('on every kind of answer: 200, 201, 204, 304, 400, 401, 403, 404, 405, 413, 414, 415, 422, 429, 500, router errors, docs', async () => {
    const user = await registerAndLogin(open.api);
    const auth = { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' };
    const created = await raw('/api/v1/tasks', { method: 'POST', headers: auth, body: '{"title":"t"}' });
    const task = (await created.clone().json()) as { id: number };
    const etag = created.headers.get('etag') ?? '';
    const cases: Array<[number, () => Promise<Response>]> = [
      [201, async () => created],
      [200, () => raw('/api/v1/users/me', { headers: auth })],
      [304, () => raw(`/api/v1/tasks/${task.id}`, { headers: { ...auth, 'if-none-match': etag } })],
      [400, () => raw('/api/v1/tasks', { method: 'POST', headers: auth, body: '{"title":' })],
      [400, () => raw('/api/v1/tasks/%E0%A4%A', { headers: auth })],
      [401, () => raw('/api/v1/users/me')],
      [403, () => raw('/api/v1/users', { headers: auth })],
      [404, () => raw('/no/such/path')],
      [405, () => raw('/api/v1/users/me', { method: 'DELETE' })],
      [413, () => raw('/api/v1/tasks', { method: 'POST', headers: auth, body: JSON.stringify({ title: 'x'.repeat(2000) }) })],
      [414, () => raw(`/api/v1/tasks/${'9'.repeat(500)}`, { headers: auth })],
      [415, () => raw('/api/v1/tasks', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'x' })],
      [422, () => raw('/api/v1/tasks?sort=nope', { headers: auth })],
      [500, () => raw('/boom')],
      [200, () => raw('/docs')],
      [200, () => raw('/openapi.json')],
      [200, () => raw('/healthz')],
      [200, () => raw('/readyz')],
      [200, () => raw('/metrics')],
      [204, () => raw(`/api/v1/tasks/${task.id}`, { method: 'DELETE', headers: { authorization: auth.authorization } })],
    ];
    for (const [status, pending] of cases) {
      const res = await pending();
      const text = await res.text();
      expect(res.status, `${status}: ${text.slice(0, 200)}`).toBe(status);
      expectSecurityHeaders(res.headers, String(status));
      if (status >= 400) expect(res.headers.get('content-type'), String(status)).toMatch(/^application\/problem\+json/);
    }
    // 429: an instance whose per-address authentication budget is one request.
    const tight = await startApp(
      testConfig(db.url, { rateLimit: { ...testConfig(db.url).rateLimit, enabled: true, authMax: 1 } }),
    );
    let limited: Response;
    try {
      const refresh = () =>
        fetch(`${tight.baseUrl}/api/v1/auth/refresh`, { method: 'POST', headers: auth, body: '{"refresh_token":"x"}' });
      await (await refresh()).text();
      limited = await refresh();
      await limited.text();
    } finally {
      await tight.close();
    }
    expect(limited.status).toBe(429);
    expectSecurityHeaders(limited.headers, '429');
  });

  it('tokens are never cached: login, refresh and logout are no-store; personal data is private', async () => {
    const user = await registerAndLogin(listed.api);
    const login = await listed.api.post('/auth/login', { username: user.username, password: user.password });
    expect(login.headers.get('cache-control')).toBe('no-store');
    const refresh = await listed.api.post('/auth/refresh', { refresh_token: login.body.refresh_token });
    expect(refresh.headers.get('cache-control')).toBe('no-store');
    const tasks = await listed.api.get('/tasks', { token: refresh.body.access_token });
    expect(tasks.headers.get('cache-control')).toMatch(/private/);
    const logout = await listed.api.post('/auth/logout', undefined, { token: refresh.body.access_token });
    expect(logout.headers.get('cache-control')).toBe('no-store');
  });
});

describe('CORS with an allow-list', () => {
  const from = (origin: string, init: RequestInit = {}) =>
    fetch(`${listed.baseUrl}/api/v1/users/me`, { ...init, headers: { origin, ...(init.headers as Record<string, string>) } });

  it('the allowed origin gets Access-Control-Allow-Origin, never with credentials', async () => {
    const res = await from(ALLOWED);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/origin/i);
  });

  it('look-alike and hostile origins get no Access-Control-Allow-Origin, on requests and preflights', async () => {
    for (const origin of [
      'https://evil.example',
      'null',
      'https://app.example.com.evil.test',
      'https://evilapp.example.com',
      'http://app.example.com',
      'https://app.example.com:8443',
    ]) {
      const res = await from(origin);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      const preflight = await from(origin, {
        method: 'OPTIONS',
        headers: { 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(preflight.headers.get('access-control-allow-credentials'), origin).toBeNull();
    }
  });

  it('a preflight from the allowed origin is answered with every method of the API and no credentials', async () => {
    for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
      const res = await from(ALLOWED, {
        method: 'OPTIONS',
        headers: { 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-methods')?.split(/\s*,\s*/), method).toContain(method);
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('by default (no CORS_ORIGINS) any origin may read, but never with credentials', async () => {
    const res = await fetch(`${open.baseUrl}/healthz`, { headers: { origin: 'https://anywhere.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
