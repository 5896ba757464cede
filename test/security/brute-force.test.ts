import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { appsOnOneDatabase, limitsOn, registerAndLogin, uniqueUser } from '../helpers/app.js';
import type { HttpResponse } from '../helpers/http.js';
import { expectProblem } from '../helpers/security.js';

// OWASP API4/API6:2023, Authentication cheat sheet (throttling), ASVS 5.0 authentication (anti-automation):
// guessing one account's password, or trying many accounts from one address, runs into a budget,
// whatever X-Forwarded-For says unless a trusted proxy said it.
const apps = appsOnOneDatabase();

const start = (limits: Partial<AppConfig['rateLimit']>, overrides: Partial<AppConfig> = {}) =>
  apps.start({ rateLimit: limitsOn({ max: 1000, authMax: 1000, ...limits }), ...overrides });

const blocked = (res: HttpResponse) => {
  expectProblem(res, 429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.body.access_token).toBeUndefined();
};

describe('one account', () => {
  it('guesses from ever-new addresses (through a trusted proxy) stop at the per-account ceiling; the right password too', async () => {
    const { api } = await start({ loginFailureMax: 2, loginFailureAccountMax: 4 }, { trustProxy: ['127.0.0.1'] });
    const victim = uniqueUser();
    await api.post('/auth/register', victim);
    for (let i = 0; i < 4; i++) {
      const res = await api.post(
        '/auth/login',
        { username: victim.username, password: `guess-${i}` },
        { headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } },
      );
      expect(res.status).toBe(401);
    }
    blocked(
      await api.post(
        '/auth/login',
        { username: victim.username, password: 'guess-x' },
        { headers: { 'x-forwarded-for': '203.0.113.99' } },
      ),
    );
    // Neither the right password nor the other identifier (email, any case) gets past it during the window.
    blocked(
      await api.post(
        '/auth/login',
        { username: victim.username, password: victim.password },
        { headers: { 'x-forwarded-for': '203.0.113.100' } },
      ),
    );
    blocked(
      await api.post(
        '/auth/login',
        { username: victim.email.toUpperCase(), password: victim.password },
        { headers: { 'x-forwarded-for': '203.0.113.101' } },
      ),
    );
  });

  it('guesses sent all at once cannot slip past the budget (counted before the password check)', async () => {
    const { api } = await start({ loginFailureMax: 3 });
    const victim = uniqueUser();
    await api.post('/auth/register', victim);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.post('/auth/login', { username: victim.username, password: `parallel-${i}` })),
    );
    expect(results.filter((r) => r.status !== 429).length).toBeLessThanOrEqual(3);
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(9);
  });
});

describe('current_password (PATCH /users/me)', () => {
  // A stolen access token must not be a way to guess the password the change needs.
  it('wrong ones spend the login budget of the account, then 429 even with the right one; logins are refused too', async () => {
    const { api } = await start({ loginFailureMax: 3 });
    const u = await registerAndLogin(api);
    const change = (currentPassword: string) =>
      api.patch('/users/me', { email: `new_${u.email}`, current_password: currentPassword }, { token: u.token });
    // A right current password gives its attempt back: it spends nothing.
    for (let i = 0; i < 4; i++) expect((await change(u.password)).status).toBe(200);
    for (let i = 0; i < 3; i++) expectProblem(await change(`guess-${i}`), 403);
    const refused = await change(u.password);
    expectProblem(refused, 429);
    expect(refused.body.detail).toBe('Too many login attempts for this account; retry later');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await api.get('/users/me', { token: u.token })).body.email).toBe(`new_${u.email}`);
    // One budget with logins: the same 429 there.
    const login = await api.post('/auth/login', { username: u.username, password: u.password });
    blocked(login);
    expect(login.body.detail).toBe(refused.body.detail);
  });

  it('wrong logins spend the budget that current_password checks draw on', async () => {
    const { api } = await start({ loginFailureMax: 2 });
    const u = await registerAndLogin(api);
    for (let i = 0; i < 2; i++) {
      expect((await api.post('/auth/login', { username: u.username, password: `guess-${i}` })).status).toBe(401);
    }
    expectProblem(
      await api.patch('/users/me', { password: 'Another-passw0rd', current_password: u.password }, { token: u.token }),
      429,
    );
  });
});

describe('many accounts from one address', () => {
  it('the per-address budget of register, login and refresh stops a sweep over usernames', async () => {
    const { api } = await start({ authMax: 5 });
    for (let i = 0; i < 5; i++) {
      expect((await api.post('/auth/login', { username: `sweep-${i}`, password: 'Password1' })).status).toBe(401);
    }
    blocked(await api.post('/auth/login', { username: 'sweep-next', password: 'Password1' }));
    blocked(await api.post('/auth/register', uniqueUser()));
    blocked(await api.post('/auth/refresh', { refresh_token: 'A'.repeat(43) }));
  });

  it('without TRUST_PROXY, rotating X-Forwarded-For (and Forwarded, X-Real-IP) gains nothing', async () => {
    const { api } = await start({ authMax: 3 });
    const spoof = (i: number) => ({
      'x-forwarded-for': `203.0.113.${i}`,
      forwarded: `for=203.0.113.${i}`,
      'x-real-ip': `203.0.113.${i}`,
    });
    for (let i = 0; i < 3; i++) {
      expect((await api.post('/auth/login', { username: `a${i}`, password: 'x' }, { headers: spoof(i) })).status).toBe(401);
    }
    blocked(await api.post('/auth/login', { username: 'a9', password: 'x' }, { headers: spoof(9) }));
  });

  it('with TRUST_PROXY naming another proxy, X-Forwarded-For from this address is not believed', async () => {
    const { api } = await start({ authMax: 3 }, { trustProxy: ['10.9.9.9'] });
    for (let i = 0; i < 3; i++) {
      const res = await api.post(
        '/auth/login',
        { username: `b${i}`, password: 'x' },
        { headers: { 'x-forwarded-for': `203.0.113.${i}` } },
      );
      expect(res.status).toBe(401);
    }
    blocked(await api.post('/auth/login', { username: 'b9', password: 'x' }, { headers: { 'x-forwarded-for': '203.0.113.9' } }));
  });

  it('with TRUST_PROXY naming the proxy, only the address the proxy appended counts, not what the client prepended', async () => {
    const { api } = await start({ authMax: 3 }, { trustProxy: ['127.0.0.1'] });
    // The client sends its own X-Forwarded-For; the proxy appends the real client address (203.0.113.50).
    const via = (spoofed: string) => ({ 'x-forwarded-for': `${spoofed}, 203.0.113.50` });
    for (let i = 0; i < 3; i++) {
      expect((await api.post('/auth/login', { username: `c${i}`, password: 'x' }, { headers: via(`192.0.2.${i}`) })).status).toBe(
        401,
      );
    }
    blocked(await api.post('/auth/login', { username: 'c9', password: 'x' }, { headers: via('192.0.2.99') }));
    // Another real client behind the same proxy has its own budget.
    const other = await api.post(
      '/auth/login',
      { username: 'c10', password: 'x' },
      { headers: { 'x-forwarded-for': '203.0.113.51' } },
    );
    expect(other.status).toBe(401);
  });
});

describe('authenticated clients', () => {
  it('each user has a budget on every route; a token does not reset it, a new login does not either', async () => {
    const { api } = await start({ max: 4 });
    const u = await registerAndLogin(api);
    for (let i = 0; i < 4; i++) expect((await api.get('/users/me', { token: u.token })).status).toBe(200);
    blocked(await api.get('/users/me', { token: u.token }));
    const again = await api.post('/auth/login', { username: u.username, password: u.password });
    expect(again.status).toBe(200);
    blocked(await api.get('/tasks', { token: again.body.access_token }));
  });
});
