import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { registerAndLogin, setupTestApp, type TestContext, testConfig, uniqueUser } from '../helpers/app.js';
import type { HttpResponse } from '../helpers/http.js';
import { expectProblem } from '../helpers/security.js';

// OWASP Authentication cheat sheet (authentication responses), ASVS 5.0 authentication: login tells
// nobody whether an account exists or is active, by status, body, headers or time.
let ctx: TestContext;
const limits = (over: Partial<AppConfig['rateLimit']>): Partial<AppConfig> => ({
  rateLimit: { ...testConfig('postgres://unused/x').rateLimit, enabled: true, max: 1000, authMax: 1000, ...over },
  // Each attempt below comes from its own client address, as a trusted proxy on 127.0.0.1 reports it.
  trustProxy: ['127.0.0.1'],
});
beforeAll(async () => {
  // Each attempt has an address of its own (below): the per-account ceiling is the budget that runs out.
  ctx = await setupTestApp(limits({ loginFailureMax: 3, loginFailureAccountMax: 3 }));
});
afterAll(() => ctx.close());

let address = 0;
const login = (username: string, password: string, from = `198.51.100.${++address}`) =>
  ctx.api.post('/auth/login', { username, password }, { headers: { 'x-forwarded-for': from } });

/** Every header but those that differ on every response anyway. */
function comparable(res: HttpResponse) {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!['date', 'x-request-id', 'ratelimit-reset'].includes(name)) out[name] = value;
  });
  return out;
}

describe('login: unknown user, wrong password and deactivated account', () => {
  it('get the same status, body, headers (rate-limit headers and Content-Length included)', async () => {
    const known = await registerAndLogin(ctx.api);
    const inactive = await registerAndLogin(ctx.api);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [inactive.id]);
    const attempts = {
      unknown: await login(`ghost_${known.username}`, 'whatever-password'),
      unknownEmail: await login(`ghost_${known.email}`, 'whatever-password'),
      wrongPassword: await login(known.username, `${known.password}x`),
      wrongPasswordByEmail: await login(known.email, `${known.password}x`),
      deactivatedRightPassword: await login(inactive.username, inactive.password),
    };
    const reference = attempts.unknown;
    expectProblem(reference, 401);
    expect(reference.headers.get('ratelimit-remaining')).toBe('999');
    expect(reference.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    for (const [what, res] of Object.entries(attempts)) {
      expect(res.status, what).toBe(401);
      expect(res.text, what).toBe(reference.text);
      expect(comparable(res), what).toEqual(comparable(reference));
    }
  });

  it('the per-account attempt budget also runs out for names that do not exist, with the same 429', async () => {
    const known = await registerAndLogin(ctx.api);
    const ghost = `ghost_${known.username}`;
    // Three failures for each name (the successful login of registerAndLogin spent nothing).
    for (let i = 0; i < 3; i++) {
      expect((await login(known.username, 'wrong-password')).status).toBe(401);
      expect((await login(ghost, 'wrong-password')).status).toBe(401);
    }
    const blockedKnown = await login(known.username, 'wrong-password');
    const blockedGhost = await login(ghost, 'wrong-password');
    expectProblem(blockedKnown, 429);
    expect(blockedGhost.text).toBe(blockedKnown.text);
    expect(Object.keys(comparable(blockedGhost)).sort()).toEqual(Object.keys(comparable(blockedKnown)).sort());
  });
});

describe('registration', () => {
  it('says which of username or email is taken (the FastAPI contract, kept; see SECURITY.md), and nothing more', async () => {
    const u = await registerAndLogin(ctx.api);
    const name = await ctx.api.post('/auth/register', { ...uniqueUser(), username: u.username.toUpperCase() });
    expectProblem(name, 409);
    expect(name.body.detail).toBe('Username already registered');
    const email = await ctx.api.post('/auth/register', { ...uniqueUser(), email: u.email.toUpperCase() });
    expectProblem(email, 409);
    expect(email.body.detail).toBe('Email already registered');
    for (const res of [name, email]) {
      expect(res.body).not.toHaveProperty('id');
      expect(res.text).not.toContain(u.email);
    }
  });

  it('costs a full password hash whether the name is free or taken (no timing channel beyond the 409)', async () => {
    // Ratios between two measurements of the same run, never absolute times (see test/modules/auth/login.test.ts).
    const slow = await setupTestApp({ bcryptCost: 10 });
    try {
      const taken = await registerAndLogin(slow.api);
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      const time = async (body: object, status: number) => {
        const started = performance.now();
        const res = await slow.api.post('/auth/register', body);
        expect(res.status).toBe(status);
        return performance.now() - started;
      };
      const free: number[] = [];
      const conflict: number[] = [];
      for (let i = 0; i < 5; i++) {
        free.push(await time(uniqueUser(), 201));
        conflict.push(await time({ ...uniqueUser(), username: taken.username }, 409));
      }
      expect(median(conflict) / median(free)).toBeGreaterThan(0.6);
    } finally {
      await slow.close();
    }
  });
});

describe('other answers that could tell accounts apart', () => {
  it('refresh: an unknown, a spent and a deactivated user’s refresh token get one answer', async () => {
    const spent = await registerAndLogin(ctx.api);
    await ctx.api.post('/auth/refresh', { refresh_token: spent.refreshToken }, { headers: { 'x-forwarded-for': '192.0.2.10' } });
    const inactive = await registerAndLogin(ctx.api);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [inactive.id]);
    const answers = [];
    for (const [i, token] of ['A'.repeat(43), spent.refreshToken, inactive.refreshToken].entries()) {
      answers.push(
        await ctx.api.post('/auth/refresh', { refresh_token: token }, { headers: { 'x-forwarded-for': `192.0.2.${20 + i}` } }),
      );
    }
    for (const res of answers) {
      expectProblem(res, 401);
      expect(res.text).toBe(answers[0]?.text);
      expect(comparable(res)).toEqual(comparable(answers[0] as HttpResponse));
    }
  });
});
