import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { registerAndLogin, startApp, type TestApp, testConfig, uniqueUser } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import type { HttpClient, HttpResponse } from '../helpers/http.js';
import { type RedisServer, sharedRedis, startRedisServer } from '../helpers/redis.js';

let db: TestDatabase;
let redis: { url: string; stop(): Promise<void> };

beforeAll(async () => {
  [db, redis] = await Promise.all([createTestDatabase(), sharedRedis()]);
});
afterAll(async () => {
  await db?.drop();
  await redis?.stop();
});

const newPrefix = () => `task-api-test:${randomBytes(4).toString('hex')}:`;

interface Options {
  redisUrl: string | undefined;
  limits?: Partial<AppConfig['rateLimit']>;
  overrides?: Partial<AppConfig>;
}

/** A config with rate limiting on, its own Redis key prefix, and the given budgets. */
function limitedConfig({ redisUrl, limits = {}, overrides = {} }: Options): AppConfig {
  const base = testConfig(db.url);
  return testConfig(db.url, {
    redisUrl,
    redisKeyPrefix: newPrefix(),
    rateLimit: { ...base.rateLimit, enabled: true, max: 5, authMax: 1000, windowMs: 60_000, ...limits },
    ...overrides,
  });
}

const started: TestApp[] = [];
async function start(config: AppConfig): Promise<TestApp> {
  const app = await startApp(config);
  started.push(app);
  // With Redis configured, the instance must really be on it (not silently on its memory fallback).
  expect(app.app.redis?.status ?? 'not configured').toBe(config.redisUrl ? 'ready' : 'not configured');
  return app;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((a) => a.close()));
});

const num = (res: HttpResponse, name: string) => Number(res.headers.get(name));

function expectTooMany(res: HttpResponse) {
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 429 });
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.detail.length).toBeGreaterThan(0);
  const retryAfter = res.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThan(0);
}

/** `count` requests; each must be let through (any status but 429). */
async function spend(count: number, send: () => Promise<HttpResponse>): Promise<HttpResponse[]> {
  const responses: HttpResponse[] = [];
  for (let i = 0; i < count; i++) {
    const res = await send();
    expect(res.status, `request ${i + 1} of ${count}: ${res.text}`).not.toBe(429);
    responses.push(res);
  }
  return responses;
}

const anonymous =
  (api: HttpClient, headers: Record<string, string> = {}) =>
  () =>
    api.get('/tasks', { headers });

describe.each([
  ['memory', () => undefined],
  ['Redis', () => redis.url],
] as Array<[string, () => string | undefined]>)('rate limits (%s store)', (_name, redisUrl) => {
  it('announces the budget on every response and answers 429 problem+json with Retry-After once it is spent', async () => {
    const config = limitedConfig({ redisUrl: redisUrl(), limits: { max: 4, windowMs: 60_000 } });
    const { api } = await start(config);
    const responses = await spend(4, anonymous(api));
    if (config.redisUrl) {
      // The count lives in Redis, under this app's prefix.
      const client = new Redis(config.redisUrl);
      try {
        expect(await client.keys(`${config.redisKeyPrefix}rl:*`)).not.toEqual([]);
      } finally {
        client.disconnect();
      }
    }
    expect(responses.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(responses.map((r) => num(r, 'ratelimit-limit'))).toEqual([4, 4, 4, 4]);
    expect(responses.map((r) => num(r, 'ratelimit-remaining'))).toEqual([3, 2, 1, 0]);
    for (const r of responses) {
      expect(r.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
      expect(num(r, 'ratelimit-reset')).toBeGreaterThan(0);
      expect(num(r, 'ratelimit-reset')).toBeLessThanOrEqual(60);
    }

    const refused = await api.get('/tasks');
    expectTooMany(refused);
    expect(num(refused, 'ratelimit-limit')).toBe(4);
    expect(num(refused, 'ratelimit-remaining')).toBe(0);
    expect(num(refused, 'retry-after')).toBeLessThanOrEqual(60);
    // Still refused: the budget is spent for the whole window.
    expectTooMany(await api.get('/users/me'));
    // Unknown paths and wrong methods spend the same budget: probing for routes is not free.
    expectTooMany(await api.get('/no-such-route'));
    expectTooMany(await api.delete('/users/me'));
  });

  it('gives each authenticated user a budget of their own, and anonymous requests one per address', async () => {
    const { api } = await start(limitedConfig({ redisUrl: redisUrl(), limits: { max: 3 } }));
    const ada = await registerAndLogin(api, 'ada');
    const bob = await registerAndLogin(api, 'bob');

    const adaRes = await spend(3, () => api.get('/users/me', { token: ada.token }));
    expect(adaRes.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(adaRes.map((r) => num(r, 'ratelimit-remaining'))).toEqual([2, 1, 0]);
    expectTooMany(await api.get('/users/me', { token: ada.token }));

    // Same address, another user: a full budget.
    const bobRes = await spend(3, () => api.get('/tasks', { token: bob.token }));
    expect(bobRes.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(bobRes.map((r) => num(r, 'ratelimit-remaining'))).toEqual([2, 1, 0]);
    expectTooMany(await api.get('/users/me', { token: bob.token }));

    // Anonymous requests from this address: a budget of their own, shared by every route.
    const anon = [await api.get('/tasks'), await api.get('/users/me'), await api.get('/tasks/1')];
    expect(anon.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(anon.map((r) => num(r, 'ratelimit-remaining'))).toEqual([2, 1, 0]);
    expectTooMany(await api.get('/tasks'));
    // A token that does not verify is anonymous: it cannot open a fresh budget.
    expectTooMany(await api.get('/tasks', { token: 'a.b.c' }));
  });

  it('register, login and refresh share one per-address budget (authMax), apart from the general budget', async () => {
    const { api } = await start(limitedConfig({ redisUrl: redisUrl(), limits: { max: 3, authMax: 5 } }));
    const user = uniqueUser();
    const registered = await api.post('/auth/register', user);
    expect(registered.status).toBe(201);
    expect(num(registered, 'ratelimit-limit')).toBe(5);
    expect(num(registered, 'ratelimit-remaining')).toBe(4);

    const logins = await spend(2, () => api.post('/auth/login', { username: user.username, password: user.password }));
    expect(logins.map((r) => r.status)).toEqual([200, 200]);
    expect(logins.map((r) => num(r, 'ratelimit-remaining'))).toEqual([3, 2]);

    const pair = logins[0]!.body as { access_token: string; refresh_token: string };
    let refreshToken = pair.refresh_token;
    const refreshes = await spend(2, async () => {
      const res = await api.post('/auth/refresh', { refresh_token: refreshToken });
      if (res.status === 200) refreshToken = res.body.refresh_token;
      return res;
    });
    expect(refreshes.map((r) => r.status)).toEqual([200, 200]);
    expect(refreshes.map((r) => num(r, 'ratelimit-remaining'))).toEqual([1, 0]);
    // The budget is one for the three routes: each is refused now, correct credentials or not.
    expectTooMany(await api.post('/auth/refresh', { refresh_token: refreshToken }));
    expectTooMany(await api.post('/auth/login', { username: user.username, password: user.password }));
    expectTooMany(await api.post('/auth/register', uniqueUser()));

    // The authentication requests did not touch the general per-user budget (max 3).
    const general = await spend(3, () => api.get('/users/me', { token: pair.access_token }));
    expect(general.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(general.map((r) => num(r, 'ratelimit-limit'))).toEqual([3, 3, 3]);
    expect(general.map((r) => num(r, 'ratelimit-remaining'))).toEqual([2, 1, 0]);
  });

  it('blocks an account after loginFailureMax failed logins, leaves others alone, and lets it in after the window', async () => {
    const { api } = await start(
      limitedConfig({
        redisUrl: redisUrl(),
        limits: { max: 1000, authMax: 1000, loginFailureMax: 3, loginFailureWindowMs: 1500 },
      }),
    );
    const ada = uniqueUser('ada');
    const bob = uniqueUser('bob');
    expect((await api.post('/auth/register', ada)).status).toBe(201);
    expect((await api.post('/auth/register', bob)).status).toBe(201);

    // The window opens with the first failure, at the latest when its answer arrives.
    let windowOpened = 0;
    for (let i = 0; i < 3; i++) {
      const failed = await api.post('/auth/login', { username: ada.username, password: `wrong-${i}` });
      expect(failed.status).toBe(401);
      windowOpened ||= Date.now();
    }
    const blocked = await api.post('/auth/login', { username: ada.username, password: ada.password });
    expectTooMany(blocked);
    expect(num(blocked, 'retry-after')).toBeLessThanOrEqual(2);
    expect(blocked.body.access_token).toBeUndefined();
    // The username is counted regardless of case.
    expectTooMany(await api.post('/auth/login', { username: ada.username.toUpperCase(), password: ada.password }));
    // The account is counted, whichever identifier names it: the email is blocked too.
    expectTooMany(await api.post('/auth/login', { username: ada.email.toUpperCase(), password: ada.password }));

    // Another account, same address: unaffected.
    const other = await api.post('/auth/login', { username: bob.username, password: bob.password });
    expect(other.status).toBe(200);
    expect(typeof other.body.access_token).toBe('string');

    // Once the window has passed, the right password works again.
    await sleep(Math.max(0, windowOpened + 1500 + 150 - Date.now()));
    const again = await api.post('/auth/login', { username: ada.username, password: ada.password });
    expect(again.status).toBe(200);
    expect(typeof again.body.access_token).toBe('string');
  });

  it('ignores X-Forwarded-For unless the proxy is trusted', async () => {
    const { api } = await start(limitedConfig({ redisUrl: redisUrl(), limits: { max: 3, authMax: 3 } }));
    let n = 0;
    const rotating = () => api.get('/tasks', { headers: { 'x-forwarded-for': `203.0.113.${++n}` } });
    await spend(3, rotating);
    expectTooMany(await rotating());
    expectTooMany(await rotating());

    // The authentication budget is per address too, and rotating the header does not reset it either.
    const login = () =>
      api.post('/auth/login', { username: 'nobody', password: 'x' }, { headers: { 'x-forwarded-for': `198.51.100.${++n}` } });
    await spend(3, login);
    expectTooMany(await login());
  });

  it('with trustProxy naming the proxy, counts each forwarded client address separately', async () => {
    const { api } = await start(
      limitedConfig({ redisUrl: redisUrl(), limits: { max: 3, authMax: 2 }, overrides: { trustProxy: ['127.0.0.1'] } }),
    );
    const from = (address: string) => ({ 'x-forwarded-for': address });
    await spend(3, anonymous(api, from('203.0.113.7')));
    expectTooMany(await api.get('/tasks', { headers: from('203.0.113.7') }));

    const other = await api.get('/tasks', { headers: from('203.0.113.8') });
    expect(other.status).toBe(401);
    expect(num(other, 'ratelimit-remaining')).toBe(2);
    // The proxy's own address (no header) is yet another client.
    const direct = await api.get('/tasks');
    expect(direct.status).toBe(401);
    expect(num(direct, 'ratelimit-remaining')).toBe(2);

    const login = (address: string) => api.post('/auth/login', { username: 'nobody', password: 'x' }, { headers: from(address) });
    await spend(2, () => login('192.0.2.1'));
    expectTooMany(await login('192.0.2.1'));
    const elsewhere = await login('192.0.2.2');
    expect(elsewhere.status).toBe(401);
    expect(num(elsewhere, 'ratelimit-remaining')).toBe(1);
  });

  it('never limits /healthz, /readyz and /metrics', async () => {
    const { api, baseUrl } = await start(limitedConfig({ redisUrl: redisUrl(), limits: { max: 2 } }));
    await spend(2, anonymous(api));
    expectTooMany(await api.get('/tasks'));
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${baseUrl}${path}`);
        await res.text();
        expect(res.status, path).toBe(200);
        expect(res.headers.get('ratelimit-limit'), path).toBeNull();
        expect(res.headers.get('retry-after'), path).toBeNull();
      }
    }
  });
});

describe('rate limits shared through Redis', () => {
  it('two instances with the same Redis and prefix share one budget', async () => {
    const config = limitedConfig({ redisUrl: redis.url, limits: { max: 6 } });
    const a = await start(config);
    const b = await start(config);
    const remaining: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await (i % 2 === 0 ? a : b).api.get('/tasks');
      expect(res.status).toBe(401);
      remaining.push(num(res, 'ratelimit-remaining'));
    }
    expect(remaining).toEqual([5, 4, 3, 2, 1, 0]);
    expectTooMany(await a.api.get('/tasks'));
    expectTooMany(await b.api.get('/tasks'));
  });

  it('an instance with another prefix keeps its own budget', async () => {
    const a = await start(limitedConfig({ redisUrl: redis.url, limits: { max: 2 } }));
    const b = await start(limitedConfig({ redisUrl: redis.url, limits: { max: 2 } }));
    await spend(2, anonymous(a.api));
    expectTooMany(await a.api.get('/tasks'));
    const res = await b.api.get('/tasks');
    expect(res.status).toBe(401);
    expect(num(res, 'ratelimit-remaining')).toBe(1);
  });
});

describe('rate limits while Redis is unreachable', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(() => server?.stop());

  async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  it('keeps serving with per-instance limits when Redis answers but refuses writes (a replica after a failover)', async () => {
    const config = limitedConfig({ redisUrl: server.url, limits: { max: 3 } });
    const a = await start(config);
    const admin = new Redis(server.url);
    try {
      // A replica of a primary that is not there: connected and answering, but read-only.
      await admin.call('REPLICAOF', '127.0.0.1', '1');
      const served = await spend(3, () => a.api.get('/tasks'));
      expect(served.map((r) => r.status)).toEqual([401, 401, 401]);
      expect(served.map((r) => num(r, 'ratelimit-remaining'))).toEqual([2, 1, 0]);
      expectTooMany(await a.api.get('/tasks'));
      expect(a.app.redis?.status).toBe('ready');
    } finally {
      await admin.call('REPLICAOF', 'NO', 'ONE');
      admin.disconnect();
    }
    // Writable again: the count is Redis's again, which saw none of the requests above.
    const b = await start(config);
    const res = await b.api.get('/tasks');
    expect(res.status).toBe(401);
    expect(num(res, 'ratelimit-remaining')).toBe(2);
  });

  it('keeps serving with per-instance limits, then shares the budget again once Redis is back', async () => {
    const config = limitedConfig({ redisUrl: server.url, limits: { max: 4 } });
    const a = await start(config);
    const user = await registerAndLogin(a.api);
    expect(a.app.redis?.status).toBe('ready');
    expect((await a.api.get('/users/me', { token: user.token })).status).toBe(200);

    await server.stop();
    await until(() => a.app.redis?.status !== 'ready', 'the client to notice Redis is gone');

    // Served from this instance's memory: a fresh per-instance count, still enforced.
    const served = await spend(4, () => a.api.get('/users/me', { token: user.token }));
    expect(served.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(served.map((r) => num(r, 'ratelimit-limit'))).toEqual([4, 4, 4, 4]);
    expect(served.map((r) => num(r, 'ratelimit-remaining'))).toEqual([3, 2, 1, 0]);
    for (const r of served) expect(r.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    expectTooMany(await a.api.get('/users/me', { token: user.token }));
    const ready = await fetch(`${a.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    await ready.text();

    await server.start();
    await until(() => a.app.redis?.status === 'ready', 'the client to reconnect', 15_000);
    const readyAgain = await fetch(`${a.baseUrl}/readyz`);
    expect(readyAgain.status).toBe(200);
    expect(((await readyAgain.json()) as any).checks).toEqual({ database: 'ok', redis: 'ok' });

    // Back on Redis (restarted empty): a second instance with the same prefix sees a's count.
    const anonymousFirst = await a.api.get('/tasks');
    expect(anonymousFirst.status).toBe(401);
    expect(num(anonymousFirst, 'ratelimit-remaining')).toBe(3);
    const b = await start(config);
    const fromB = await b.api.get('/tasks');
    expect(fromB.status).toBe(401);
    expect(num(fromB, 'ratelimit-remaining')).toBe(2);
    const fromA = await a.api.get('/tasks');
    expect(num(fromA, 'ratelimit-remaining')).toBe(1);
  });
});
