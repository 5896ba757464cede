import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { appsOnOneDatabase, limitsOn, uniqueUser } from '../helpers/app.js';
import type { HttpClient, HttpResponse } from '../helpers/http.js';
import { startRedisServer } from '../helpers/redis.js';
import { expectProblem } from '../helpers/security.js';

// OWASP Authentication cheat sheet (account lockout: "an attacker can lock out users"), ASVS 5.0
// authentication (anti-automation): an attempt budget must neither be escaped nor turned against the
// account's owner. Every request comes through a trusted proxy on loopback, which names the client.
const apps = appsOnOneDatabase();

const start = (limits: Partial<AppConfig['rateLimit']>, overrides: Partial<AppConfig> = {}) =>
  apps.start({
    rateLimit: limitsOn({ max: 1_000_000, authMax: 1_000_000, ...limits }),
    trustProxy: ['127.0.0.1'],
    ...overrides,
  });

const loginFrom = (api: HttpClient, address: string, username: string, password: string) =>
  api.post('/auth/login', { username, password }, { headers: { 'x-forwarded-for': address } });

const blocked = (res: HttpResponse) => {
  expectProblem(res, 429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.body.access_token).toBeUndefined();
};

async function registered(api: HttpClient) {
  const user = uniqueUser();
  expect((await api.post('/auth/register', user)).status).toBe(201);
  return user;
}

describe('lockout as a weapon', () => {
  it('guesses from one address lock out that address only, not the owner at another', async () => {
    const { api } = await start({ loginFailureMax: 10 });
    const owner = await registered(api);
    for (let i = 0; i < 10; i++) {
      expect((await loginFrom(api, '203.0.113.66', owner.username, `guess-${i}`)).status).toBe(401);
    }
    blocked(await loginFrom(api, '203.0.113.66', owner.username, owner.password));
    blocked(await loginFrom(api, '203.0.113.66', owner.email, 'guess-x'));
    // The owner, elsewhere: still in, by username and by email.
    expect((await loginFrom(api, '198.51.100.7', owner.username, owner.password)).status).toBe(200);
    expect((await loginFrom(api, '198.51.100.7', owner.email.toUpperCase(), owner.password)).status).toBe(200);
    // The attacker's address is still refused; refusals did not spend the owner's ceiling either.
    blocked(await loginFrom(api, '203.0.113.66', owner.username, 'guess-y'));
  });

  it('a guess spread over many addresses stops at the per-account ceiling', async () => {
    const { api } = await start({ loginFailureMax: 3, loginFailureAccountMax: 7 });
    const owner = await registered(api);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await loginFrom(api, `203.0.113.${i + 1}`, owner.username, `guess-${i}`)).status);
    }
    expect(statuses).toEqual([...Array(7).fill(401), ...Array(5).fill(429)]);
    // The ceiling holds for every address while it lasts; other accounts are untouched.
    blocked(await loginFrom(api, '198.51.100.7', owner.username, owner.password));
    const other = await registered(api);
    expect((await loginFrom(api, '203.0.113.1', other.username, other.password)).status).toBe(200);
  });

  it('a successful login spends nothing: the failures it allows stay the same', async () => {
    const { api } = await start({ loginFailureMax: 3, loginFailureAccountMax: 3 });
    const owner = await registered(api);
    const from = '203.0.113.9';
    expect((await loginFrom(api, from, owner.username, 'guess-0')).status).toBe(401);
    for (let i = 0; i < 6; i++) expect((await loginFrom(api, from, owner.username, owner.password)).status).toBe(200);
    expect((await loginFrom(api, from, owner.username, 'guess-1')).status).toBe(401);
    expect((await loginFrom(api, from, owner.username, 'guess-2')).status).toBe(401);
    blocked(await loginFrom(api, from, owner.username, owner.password));
  });

  it('right and wrong passwords sent all at once still stop at the budget (counted first, given back after)', async () => {
    const { api } = await start({ loginFailureMax: 4 });
    const owner = await registered(api);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        loginFrom(api, '203.0.113.10', owner.username, i % 4 === 0 ? owner.password : `parallel-${i}`),
      ),
    );
    const wrongLetThrough = results.filter((r, i) => i % 4 !== 0 && r.status === 401).length;
    expect(wrongLetThrough).toBeLessThanOrEqual(4);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  });
});

describe('without Redis, the per-account counters', () => {
  it('cannot be evicted by logins for other names from other addresses', { timeout: 120_000 }, async () => {
    const { api } = await start({ loginFailureMax: 10 }, { redisUrl: undefined });
    const victim = await registered(api);
    const from = '203.0.113.200';
    for (let i = 0; i < 10; i++) expect((await loginFrom(api, from, victim.username, `guess-${i}`)).status).toBe(401);
    blocked(await loginFrom(api, from, victim.username, victim.password));

    // 6,000 names the attacker picks, from as many addresses: more than any bounded cache would keep.
    const flood = 6_000;
    const parallel = 16;
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < flood) {
          const i = next++;
          const res = await loginFrom(api, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `flood_${i}`, 'x');
          expect(res.status).toBe(401);
        }
      }),
    );
    blocked(await loginFrom(api, from, victim.username, victim.password));
  });
});

describe('with Redis', () => {
  it('counts in Redis while it answers, in memory while it is down, and keeps serving logins', { timeout: 60_000 }, async () => {
    const server = await startRedisServer();
    try {
      const { api, app } = await start({ loginFailureMax: 3 }, { redisUrl: server.url });
      expect(app.redis?.status).toBe('ready');
      const owner = await registered(api);
      const from = '203.0.113.77';
      expect((await loginFrom(api, from, owner.username, 'guess-0')).status).toBe(401);
      expect(await app.redis?.keys(`${app.config.redisKeyPrefix}login-attempts:*`)).not.toEqual([]);

      await server.stop();
      const deadline = Date.now() + 10_000;
      while (app.redis?.status === 'ready' && Date.now() < deadline) await sleep(50);
      expect(app.redis?.status).not.toBe('ready');
      // Served, and still counted: a fresh count in this instance's memory.
      expect((await loginFrom(api, from, owner.username, owner.password)).status).toBe(200);
      for (let i = 1; i <= 3; i++) expect((await loginFrom(api, from, owner.username, `guess-${i}`)).status).toBe(401);
      blocked(await loginFrom(api, from, owner.username, owner.password));
      expect((await loginFrom(api, '198.51.100.77', owner.username, owner.password)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
