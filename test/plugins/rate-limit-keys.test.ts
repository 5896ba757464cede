import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { appsOnOneDatabase, limitsOn, registerAndLogin, uniqueUser } from '../helpers/app.js';
import type { HttpClient, HttpResponse } from '../helpers/http.js';
import { sharedRedis } from '../helpers/redis.js';

// Who a budget counts: addresses that are one client count once (an IPv6 network, an IPv4 address
// written as IPv4-mapped IPv6), and a token names its user only while its session is live.
// Every request comes through a trusted proxy on loopback, which names the client address.
const apps = appsOnOneDatabase();
let redis: { url: string; stop(): Promise<void> };
beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(() => redis?.stop());

const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });
const remaining = (res: HttpResponse) => Number(res.headers.get('ratelimit-remaining'));

describe.each([
  ['memory', () => undefined],
  ['Redis', () => redis.url],
] as Array<[string, () => string | undefined]>)('rate-limit keys (%s store)', (_name, redisUrl) => {
  const start = (limits: Partial<AppConfig['rateLimit']>) =>
    apps.start({
      redisUrl: redisUrl(),
      rateLimit: limitsOn({ max: 1000, authMax: 1000, ...limits }),
      trustProxy: ['127.0.0.1'],
    });
  const login = (api: HttpClient, address: string, username = 'nobody', password = 'x') =>
    api.post('/auth/login', { username, password }, from(address));

  it('every address of one IPv6 /64 is one client: the auth, general and login-attempt budgets', async () => {
    const { api } = await start({ max: 5, authMax: 30, loginFailureMax: 3 });
    const statuses: number[] = [];
    // A name of its own for each: the login-attempt budget (per name and client) stays out of it.
    for (let i = 1; i <= 40; i++) statuses.push((await login(api, `2001:db8:a:b::${i.toString(16)}`, `nobody${i}`)).status);
    expect(statuses).toEqual([...Array(30).fill(401), ...Array(10).fill(429)]);
    // Another /64 of the same /48 is another client.
    expect((await login(api, '2001:db8:a:c::1')).status).toBe(401);

    const general = [];
    for (let i = 1; i <= 6; i++) general.push((await api.get('/tasks', from(`2001:db8:a:d:${i}::1`))).status);
    expect(general).toEqual([401, 401, 401, 401, 401, 429]);

    const owner = uniqueUser();
    expect((await api.post('/auth/register', owner, from('192.0.2.1'))).status).toBe(201);
    const guesses = [];
    for (let i = 1; i <= 4; i++) {
      guesses.push((await login(api, `2001:db8:a:e::${i}`, owner.username, `guess-${i}`)).status);
    }
    expect(guesses).toEqual([401, 401, 401, 429]);
    // The owner, from another network, is not locked out.
    expect((await login(api, '2001:db8:a:f::1', owner.username, owner.password)).status).toBe(200);
  });

  it('an IPv4 address and its IPv4-mapped IPv6 form are one client', async () => {
    const { api } = await start({ max: 4, authMax: 5, loginFailureMax: 2 });
    const both = ['1.2.3.4', '::ffff:1.2.3.4'];
    const general = [];
    for (let i = 0; i < 4; i++) general.push(remaining(await api.get('/tasks', from(both[i % 2] as string))));
    expect(general).toEqual([3, 2, 1, 0]);
    expect((await api.get('/tasks', from('::ffff:1.2.3.4'))).status).toBe(429);

    const owner = uniqueUser();
    expect((await api.post('/auth/register', owner, from('1.2.3.4'))).status).toBe(201);
    expect((await login(api, '::ffff:1.2.3.4', owner.username, 'guess-1')).status).toBe(401);
    expect((await login(api, '1.2.3.4', owner.username, 'guess-2')).status).toBe(401);
    // The third attempt on the account from this client: over the login-attempt budget of two.
    expect((await login(api, '::ffff:1.2.3.4', owner.username, owner.password)).status).toBe(429);
    // The fifth request of the auth budget (register included), then the sixth.
    expect((await login(api, '1.2.3.4')).status).toBe(401);
    expect((await login(api, '::ffff:1.2.3.4')).status).toBe(429);
  });

  it('a logged-out token counts against its sender’s address, never against its owner’s budget', async () => {
    const { api } = await start({ max: 4 });
    const owner = await registerAndLogin(api);
    const live = await api.post('/auth/login', { username: owner.username, password: owner.password }, from('192.0.2.9'));
    expect(live.status).toBe(200);
    const mine = () => api.get('/users/me', { token: live.body.access_token, ...from('192.0.2.9') });
    expect((await api.post('/auth/logout', undefined, { token: owner.token, ...from('198.51.100.1') })).status).toBe(204);
    const before = await mine();
    expect(before.status).toBe(200);
    expect(remaining(before)).toBe(2);

    // The replayed token: 401s that spend the replaying address's budget, then 429 (not free).
    const replays = [];
    for (let i = 0; i < 5; i++) replays.push((await api.get('/tasks', { token: owner.token, ...from('203.0.113.5') })).status);
    expect(replays).toEqual([401, 401, 401, 401, 429]);
    expect((await api.get('/tasks', from('203.0.113.5'))).status).toBe(429);

    // The owner's live session spent none of it.
    const after = await mine();
    expect(after.status).toBe(200);
    expect(remaining(after)).toBe(1);
  });

  it('a personal access token spends its owner’s budget, shared with their logins, from any address', async () => {
    const { api } = await start({ max: 5 });
    const owner = await registerAndLogin(api);
    const made = await api.post(
      '/users/me/tokens',
      { name: 'script', scopes: ['tasks:read'] },
      { token: owner.token, ...from('192.0.2.20') },
    );
    expect(made.status).toBe(201);
    const byToken = [];
    for (const address of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      byToken.push(remaining(await api.get('/tasks', { token: made.body.token, ...from(address) })));
    }
    // The login's request above spent the first of the five.
    expect(byToken).toEqual([3, 2, 1]);
    expect(remaining(await api.get('/tasks', { token: owner.token, ...from('192.0.2.21') }))).toBe(0);
    expect((await api.get('/tasks', { token: made.body.token, ...from('198.51.100.4') })).status).toBe(429);
    // An unknown token is its sender's address's, as any dead credential is.
    expect(remaining(await api.get('/tasks', { token: `tap_${'A'.repeat(43)}`, ...from('203.0.113.9') }))).toBe(4);
  });
});

describe('RATE_LIMIT_IPV6_PREFIX', () => {
  it('128 counts every IPv6 address on its own', async () => {
    const app = await apps.start({
      rateLimit: limitsOn({ max: 1000, authMax: 2, ipv6Prefix: 128 }),
      trustProxy: ['127.0.0.1'],
    });
    const statuses = [];
    for (let i = 1; i <= 3; i++) {
      for (let j = 0; j < 2; j++) {
        statuses.push((await app.api.post('/auth/login', { username: 'nobody', password: 'x' }, from(`2001:db8::${i}`))).status);
      }
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    expect((await app.api.post('/auth/login', { username: 'nobody', password: 'x' }, from('2001:db8::1'))).status).toBe(429);
  });
});
