import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedFiles } from '../../clients/typescript/scripts/generate.js';
import { createTaskApi, type StoredTokens } from '../../clients/typescript/src/index.js';
import { limitsOn, registerAndLogin, setupTestApp, type TestContext } from '../helpers/app.js';
import { journey } from './journey.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx?.close());

/** A fetch that records what the client sent (method, path, headers) before sending it on. */
function recording() {
  const sent: Array<{ method: string; path: string; headers: Headers }> = [];
  const fetch = (request: Request) => {
    sent.push({ method: request.method, path: new URL(request.url).pathname, headers: new Headers(request.headers) });
    return globalThis.fetch(request);
  };
  return { sent, fetch };
}

/**
 * A real HTTP hop in front of the server, as a load balancer is: it forwards every request, and
 * answers the first `failures` matching requests itself with `status` (after forwarding them, when
 * `forwardFirst`: the change happens, the answer is lost on the way back).
 */
async function flakyProxy(
  target: string,
  plan: {
    match: (method: string, path: string) => boolean;
    failures: number;
    status: number;
    forwardFirst?: boolean;
    retryAfter?: string;
  },
) {
  let failures = plan.failures;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
      ) as Record<string, string>;
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const forward = () => fetch(`${target}${req.url}`, { method: req.method, headers, body });
      const failing = failures > 0 && plan.match(req.method ?? '', (req.url ?? '').split('?')[0] as string);
      if (failing) {
        failures--;
        if (plan.forwardFirst) await (await forward()).arrayBuffer();
        res.writeHead(plan.status, {
          'content-type': 'application/problem+json',
          ...(plan.retryAfter ? { 'retry-after': plan.retryAfter } : {}),
        });
        res.end(
          JSON.stringify({ type: 'about:blank', title: 'Unavailable', status: plan.status, detail: 'upstream unavailable' }),
        );
        return;
      }
      const answer = await forward();
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const tasksOf = async (userId: number) =>
  (await ctx.db.pool.query<{ title: string }>('SELECT title FROM tasks WHERE user_id = $1', [userId])).rows.map((r) => r.title);

describe('the official TypeScript client', () => {
  it('its generated files are those the current document generates (npm run client:generate)', async () => {
    for (const [file, text] of Object.entries(await generatedFiles())) {
      const committed = await readFile(new URL(`../../clients/typescript/${file}`, import.meta.url), 'utf8');
      expect(committed === text, `${file} is stale: run npm run client:generate`).toBe(true);
    }
  });

  it('a journey: register, log in, labels and due dates, a shared project, 250 tasks by cursor, refresh, logout', async () => {
    const seen = await journey(ctx.baseUrl);
    expect(seen.report.labels).toEqual(['Urgent', 'work']);
    expect(seen.urgent.map((t) => t.id)).toEqual([seen.report.id]);
    expect(seen.shared?.project_id).toBe(seen.project.id);
    expect(seen.inProject.map((t) => t.title)).toEqual(['Book the venue']);
    // 250 + the report + the shared task, each once, on three pages.
    expect(seen.pages).toBe(3);
    expect(seen.seen).toHaveLength(252);
    expect(new Set(seen.seen.map((t) => t.id)).size).toBe(252);
    expect(seen.refreshed).toBe(true);
    expect(seen.afterRefresh).toBe(200);
    expect(seen.afterLogout).toBe(401);
    expect(seen.authenticatedAfterLogout).toBe(false);
    expect(seen.refusedAfterLogout).toBe(true);
  });

  it('one refresh for many requests that meet a 401 at once; each is then answered', async () => {
    const u = await registerAndLogin(ctx.api, 'client');
    // An access token the server refuses (another key), with a live refresh token: as after a server's key rotation.
    const stale: StoredTokens = {
      accessToken: `${u.token.slice(0, -4)}AAAA`,
      refreshToken: u.refreshToken,
      expiresAt: Date.now() + 600_000,
    };
    const { sent, fetch } = recording();
    const api = createTaskApi({ baseUrl: ctx.baseUrl, fetch, tokenStore: { load: () => stale, save: () => {} } });
    const answers = await Promise.all(Array.from({ length: 10 }, () => api.GET('/api/v1/users/me')));
    expect(answers.map((a) => a.response.status)).toEqual(Array(10).fill(200));
    expect(answers.every((a) => a.data?.id === u.id)).toBe(true);
    expect(sent.filter((s) => s.path === '/api/v1/auth/refresh')).toHaveLength(1);
    // The spent refresh token was replaced: presenting it again is refused.
    expect((await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
  });

  it('refreshes before using a token about to expire, and reports a refused refresh as logged out', async () => {
    const u = await registerAndLogin(ctx.api, 'expiring');
    let saved: StoredTokens | undefined = { accessToken: u.token, refreshToken: u.refreshToken, expiresAt: Date.now() + 1_000 };
    const { sent, fetch } = recording();
    let loggedOut = 0;
    const api = createTaskApi({
      baseUrl: ctx.baseUrl,
      fetch,
      tokenStore: { load: () => saved, save: (t) => (saved = t) },
      onLoggedOut: () => loggedOut++,
    });
    expect((await api.GET('/api/v1/users/me')).response.status).toBe(200);
    expect(sent.map((s) => s.path)).toEqual(['/api/v1/auth/refresh', '/api/v1/users/me']);
    expect(saved?.accessToken).not.toBe(u.token);
    // The login ends elsewhere (logout everywhere): the next refresh is refused, the client says so.
    expect((await ctx.api.post('/auth/logout-all', undefined, { token: saved?.accessToken })).status).toBe(204);
    const after = await api.GET('/api/v1/users/me');
    expect(after.response.status).toBe(401);
    expect(loggedOut).toBe(1);
    expect(saved).toBeUndefined();
    expect(api.authenticated).toBe(false);
  });

  it('a personal access token is sent as it is, and never refreshed', async () => {
    const u = await registerAndLogin(ctx.api, 'pat');
    const created = await ctx.api.post('/users/me/tokens', { name: 'ci', scopes: ['tasks:write'] }, { token: u.token });
    expect(created.status, created.text).toBe(201);
    const { sent, fetch } = recording();
    const api = createTaskApi({ baseUrl: ctx.baseUrl, fetch, accessToken: created.body.token });
    expect((await api.POST('/api/v1/tasks', { body: { title: 'by token' } })).response.status).toBe(201);
    expect((await api.GET('/api/v1/users/me')).response.status).toBe(403); // beyond its scopes: no refresh attempted
    expect(sent.map((s) => s.path)).toEqual(['/api/v1/tasks', '/api/v1/users/me']);
    expect(sent[0]?.headers.get('authorization')).toBe(`Bearer ${created.body.token}`);
  });

  it('a create whose answer is lost is retried with the same Idempotency-Key: one task, not two', async () => {
    const u = await registerAndLogin(ctx.api, 'lost');
    const proxy = await flakyProxy(ctx.baseUrl, {
      match: (method, path) => method === 'POST' && path === '/api/v1/tasks',
      failures: 1,
      status: 503,
      forwardFirst: true,
    });
    try {
      const { sent, fetch } = recording();
      const api = createTaskApi({ baseUrl: proxy.url, fetch, retry: { baseDelayMs: 10 } });
      await api.login(u.username, u.password);
      const created = await api.POST('/api/v1/tasks', { body: { title: 'exactly once' } });
      expect(created.response.status).toBe(201);
      expect(created.response.headers.get('idempotent-replayed')).toBe('true');
      const posts = sent.filter((s) => s.method === 'POST' && s.path === '/api/v1/tasks');
      expect(posts).toHaveLength(2);
      expect(posts[0]?.headers.get('idempotency-key')).toMatch(/^[0-9a-f-]{36}$/);
      expect(posts[1]?.headers.get('idempotency-key')).toBe(posts[0]?.headers.get('idempotency-key'));
      expect(await tasksOf(u.id)).toEqual(['exactly once']);
    } finally {
      await proxy.close();
    }
  });

  it('a create without an Idempotency-Key is not retried after a 503; a GET is, after Retry-After', async () => {
    const u = await registerAndLogin(ctx.api, 'noretry');
    const proxy = await flakyProxy(ctx.baseUrl, {
      match: (method, path) => path === '/api/v1/projects' && (method === 'POST' || method === 'GET'),
      failures: 2,
      status: 503,
      forwardFirst: true,
      retryAfter: '0',
    });
    try {
      const { sent, fetch } = recording();
      const api = createTaskApi({ baseUrl: proxy.url, fetch, retry: { baseDelayMs: 10 } });
      await api.login(u.username, u.password);
      const created = await api.POST('/api/v1/projects', { body: { name: 'Maybe made' } });
      expect(created.response.status).toBe(503);
      expect(sent.filter((s) => s.method === 'POST' && s.path === '/api/v1/projects')).toHaveLength(1);
      const listed = await api.GET('/api/v1/projects');
      expect(listed.response.status).toBe(200);
      expect(sent.filter((s) => s.method === 'GET' && s.path === '/api/v1/projects')).toHaveLength(2);
      // The POST did reach the server once (its answer was lost): the project exists once.
      expect(listed.data?.map((p) => p.name)).toEqual(['Maybe made']);
    } finally {
      await proxy.close();
    }
  });

  it('a 429 is retried for any request, after the Retry-After the server sent', async () => {
    const limited = await setupTestApp({ rateLimit: limitsOn({ max: 2, windowMs: 1000 }) });
    try {
      const u = await registerAndLogin(limited.api, 'limited');
      const { sent, fetch } = recording();
      const statuses: number[] = [];
      const api = createTaskApi({
        baseUrl: limited.baseUrl,
        fetch: async (request) => {
          const response = await fetch(request);
          statuses.push(response.status);
          return response;
        },
        tokenStore: {
          load: () => ({ accessToken: u.token, refreshToken: u.refreshToken, expiresAt: Date.now() + 600_000 }),
          save: () => {},
        },
      });
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await api.POST('/api/v1/tasks', { body: { title: `limited ${i}` } }));
      expect(answers.map((a) => a.response.status)).toEqual([201, 201, 201]);
      expect(statuses).toContain(429);
      expect(sent.length).toBeGreaterThan(3);
    } finally {
      await limited.close();
    }
  });
});
