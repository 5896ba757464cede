import { createDecoder } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext, uniqueUser } from '../../helpers/app.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx.close());

const decode = createDecoder({ complete: true });

describe('POST /auth/login', () => {
  it('returns a bearer token pair and the user; the token has the required claims and expires in 30 minutes', async () => {
    const u = uniqueUser();
    await ctx.api.post('/auth/register', u);
    const res = await ctx.api.post('/auth/login', { username: u.username, password: u.password });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 1800, user: { username: u.username, role: 'user' } });
    expect(res.body.user).not.toHaveProperty('hashed_password');
    expect(res.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { header, payload } = decode(res.body.access_token);
    expect(header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: String(res.body.user.id), iss: 'task-api', aud: 'task-api' });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.exp - payload.iat).toBe(1800);
    expect(payload).not.toHaveProperty('role');
  });

  it('accepts the email (any case) in the username field', async () => {
    const u = uniqueUser();
    await ctx.api.post('/auth/register', u);
    const res = await ctx.api.post('/auth/login', { username: u.email.toUpperCase(), password: u.password });
    expect(res.status).toBe(200);
  });

  it('compares names by registration’s rule: names that fold onto an account only outside ASCII (Kelvin sign, dotted İ) log in as nobody', async () => {
    const u = uniqueUser('kit_');
    expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
    const login = (username: string) => ctx.api.post('/auth/login', { username, password: u.password });
    // ASCII case does not matter, for the username and the email.
    expect((await login(u.username.toUpperCase())).status).toBe(200);
    expect((await login(u.email.toUpperCase())).status).toBe(200);
    // Registration refuses each of these names; login must not take them for the account.
    const lookalikes = [
      `\u212A${u.username.slice(1)}`, // KELVIN SIGN: toLowerCase() and lower() make it k
      `k\u0130${u.username.slice(2)}`, // LATIN CAPITAL LETTER I WITH DOT ABOVE: lower() makes it i
      `\u212A${u.email.slice(1)}`,
      `k\u0130${u.email.slice(2)}`,
      `${u.username} `,
      ` ${u.email}`,
    ];
    for (const name of lookalikes) {
      expect((await ctx.api.post('/auth/register', { ...uniqueUser(), username: name })).status, name).toBe(422);
      const res = await login(name);
      expect(res.status, JSON.stringify(name)).toBe(401);
      expect(res.body.detail).toBe('Incorrect username or password');
    }
  });

  it('the login attempt budget follows the same rule: failures under a lookalike name do not spend the account’s', async () => {
    const limited = await setupTestApp({
      rateLimit: { ...ctx.config.rateLimit, enabled: true, max: 1000, authMax: 1000, loginFailureMax: 3 },
    });
    try {
      const u = uniqueUser('kit_');
      expect((await limited.api.post('/auth/register', u)).status).toBe(201);
      for (let i = 0; i < 5; i++) {
        const res = await limited.api.post('/auth/login', { username: `\u212A${u.username.slice(1)}`, password: `wrong-${i}` });
        expect([401, 429]).toContain(res.status);
      }
      expect((await limited.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('accepts the OAuth2 password-flow form', async () => {
    const u = uniqueUser();
    await ctx.api.post('/auth/register', u);
    const form = new URLSearchParams({ grant_type: 'password', username: u.username, password: u.password, scope: '' });
    const res = await ctx.api.post('/auth/login', undefined, {
      raw: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('bearer');
  });

  it('only the login route takes forms: register with a form → 415', async () => {
    const res = await ctx.api.post('/auth/register', undefined, {
      raw: new URLSearchParams(uniqueUser()).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
  });

  it('unknown user, wrong password and inactive user get the same 401 body and headers', async () => {
    const active = uniqueUser();
    const inactive = uniqueUser();
    await ctx.api.post('/auth/register', active);
    const created = await ctx.api.post('/auth/register', inactive);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [created.body.id]);

    const attempts = [
      await ctx.api.post('/auth/login', { username: 'nobody-at-all', password: 'whatever-password' }),
      await ctx.api.post('/auth/login', { username: active.username, password: `${active.password}x` }),
      await ctx.api.post('/auth/login', { username: inactive.username, password: inactive.password }),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.body).toEqual({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'Incorrect username or password',
      });
    }
    expect(new Set(attempts.map((r) => r.text)).size).toBe(1);
  });

  it('passwords that differ only after byte 72 are different passwords', async () => {
    const prefix = 'é'.repeat(40); // 80 bytes in UTF-8
    const u = { ...uniqueUser(), password: `${prefix}-one` };
    expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
    expect((await ctx.api.post('/auth/login', { username: u.username, password: `${prefix}-two` })).status).toBe(401);
    expect((await ctx.api.post('/auth/login', { username: u.username, password: `${prefix}-one` })).status).toBe(200);
  });

  it('passwords are compared exactly: no trimming, no case folding, no Unicode normalisation', async () => {
    const u = { ...uniqueUser(), password: 'Caf\u00e9-Password' };
    await ctx.api.post('/auth/register', u);
    for (const variant of ['Cafe\u0301-Password', 'caf\u00e9-password', ' Caf\u00e9-Password']) {
      expect((await ctx.api.post('/auth/login', { username: u.username, password: variant })).status).toBe(401);
    }
  });

  it('missing fields → 422; a wrong type → 422, not 500', async () => {
    expect((await ctx.api.post('/auth/login', { username: 'x' })).status).toBe(422);
    expect((await ctx.api.post('/auth/login', { username: ['x'], password: 'y' })).status).toBe(422);
    expect((await ctx.api.post('/auth/login', { username: 'x', password: 'y', role: 'admin' })).status).toBe(422);
  });
});

describe('login timing', () => {
  it('an unknown user and a deactivated account cost about what a wrong password costs (a real bcrypt verification)', async () => {
    // Cost 10 makes one verification tens of milliseconds, far above request overhead; the
    // assertion is a ratio between two measurements of this run, never an absolute time.
    const slow = await setupTestApp({ bcryptCost: 10 });
    try {
      const u = await registerAndLogin(slow.api);
      const inactive = await registerAndLogin(slow.api);
      await slow.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [inactive.id]);
      const time = async (username: string) => {
        const started = performance.now();
        const res = await slow.api.post('/auth/login', { username, password: 'definitely-wrong' });
        expect(res.status).toBe(401);
        return performance.now() - started;
      };
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      const known: number[] = [];
      const unknown: number[] = [];
      const deactivated: number[] = [];
      for (let i = 0; i < 5; i++) {
        known.push(await time(u.username));
        unknown.push(await time(`ghost-${i}-${u.username}`));
        deactivated.push(await time(inactive.username));
      }
      expect(median(unknown) / median(known)).toBeGreaterThan(0.6);
      expect(median(deactivated) / median(known)).toBeGreaterThan(0.6);
    } finally {
      await slow.close();
    }
  });
});
