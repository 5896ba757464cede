import { createHmac } from 'node:crypto';
import { verify } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { registerAndLogin, setupTestApp, startApp, type TestContext, testConfig, uniqueUser } from '../helpers/app.js';
import { expectProblem } from '../helpers/security.js';

// OWASP Password Storage cheat sheet, ASVS 5.0 password security: bcrypt at the configured cost over
// an HMAC with a server-side pepper; every character counts; lengths bounded; never echoed.
let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp({ bcryptCost: 6 });
});
afterAll(() => ctx.close());

const storedHash = async (id: number) =>
  (await ctx.db.pool.query('SELECT hashed_password FROM users WHERE id = $1', [id])).rows[0].hashed_password as string;

describe('what the database holds', () => {
  it('a bcrypt hash at BCRYPT_COST, unique per user (salted), never the password', async () => {
    const password = 'the-same-password-for-both';
    const a = await registerAndLogin(ctx.api);
    const b = { ...uniqueUser(), password };
    const c = { ...uniqueUser(), password };
    const [rb, rc] = [await ctx.api.post('/auth/register', b), await ctx.api.post('/auth/register', c)];
    for (const id of [a.id, rb.body.id, rc.body.id]) {
      const hash = await storedHash(id);
      expect(hash).toMatch(/^\$2[aby]\$06\$[./A-Za-z0-9]{53}$/);
    }
    expect(await storedHash(rb.body.id)).not.toBe(await storedHash(rc.body.id));
    const dump = JSON.stringify((await ctx.db.pool.query('SELECT * FROM users')).rows);
    expect(dump).not.toContain(password);
    expect(dump).not.toContain(a.password);
  });

  it('a database dump alone does not verify: the hash is of HMAC(pepper, password), not of the password', async () => {
    const u = await registerAndLogin(ctx.api);
    const hash = await storedHash(u.id);
    expect(await verify(u.password, hash)).toBe(false);
    const peppered = createHmac('sha256', ctx.config.passwordPepper).update(u.password, 'utf8').digest('base64');
    expect(await verify(peppered, hash)).toBe(true);
    const wrongPepper = createHmac('sha256', 'another-pepper-of-at-least-32-bytes').update(u.password).digest('base64');
    expect(await verify(wrongPepper, hash)).toBe(false);
  });

  it('an instance with another pepper cannot log anyone in: the pepper is part of every password', async () => {
    const u = await registerAndLogin(ctx.api);
    const other = await startApp(testConfig(ctx.db.url, { bcryptCost: 6 }));
    try {
      expectProblem(await other.api.post('/auth/login', { username: u.username, password: u.password }), 401);
    } finally {
      await other.close();
    }
    expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
  });
});

describe('the limits of bcrypt', () => {
  it('passwords sharing their first 72 bytes (and more) are still different passwords', async () => {
    const prefix = 'p'.repeat(100);
    const u = { ...uniqueUser(), password: `${prefix}-one` };
    expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
    expectProblem(await ctx.api.post('/auth/login', { username: u.username, password: `${prefix}-two` }), 401);
    expectProblem(await ctx.api.post('/auth/login', { username: u.username, password: prefix }), 401);
    expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
  });

  it('a NUL byte does not truncate a password (refused outright)', async () => {
    expectProblem(await ctx.api.post('/auth/register', { ...uniqueUser(), password: 'abcdefgh\u0000ijkl' }), 422);
  });

  it('length is bounded: 8 to 256 characters on register and change, at most 256 at login, checked before any hashing', async () => {
    expectProblem(await ctx.api.post('/auth/register', { ...uniqueUser(), password: 'x'.repeat(7) }), 422);
    expectProblem(await ctx.api.post('/auth/register', { ...uniqueUser(), password: 'x'.repeat(257) }), 422);
    // 256 characters of 4 bytes each (1 KiB) are fine: the HMAC step makes the input to bcrypt fixed-size.
    const long = { ...uniqueUser(), password: '😀'.repeat(128) };
    expect((await ctx.api.post('/auth/register', long)).status).toBe(201);
    expect((await ctx.api.post('/auth/login', { username: long.username, password: long.password })).status).toBe(200);
    expectProblem(await ctx.api.post('/auth/login', { username: long.username, password: 'x'.repeat(257) }), 422);
    const u = await registerAndLogin(ctx.api);
    expectProblem(
      await ctx.api.patch('/users/me', { password: 'y'.repeat(257), current_password: u.password }, { token: u.token }),
      422,
    );
    expectProblem(
      await ctx.api.patch('/users/me', { password: 'y'.repeat(8), current_password: 'z'.repeat(257) }, { token: u.token }),
      422,
    );
  });
});

describe('passwords never leave the server', () => {
  it('no response of register, login, refresh, me, change or the admin user list carries a password or a hash', async () => {
    const admin = await registerAndLogin(ctx.api, 'pwadmin');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const u = uniqueUser();
    const texts: string[] = [];
    const reg = await ctx.api.post('/auth/register', u);
    texts.push(reg.text);
    const login = await ctx.api.post('/auth/login', { username: u.username, password: u.password });
    texts.push(login.text);
    texts.push((await ctx.api.post('/auth/refresh', { refresh_token: login.body.refresh_token })).text);
    texts.push((await ctx.api.get('/users/me', { token: login.body.access_token })).text);
    const changed = await ctx.api.patch(
      '/users/me',
      { password: `${u.password}-new`, current_password: u.password },
      { token: login.body.access_token },
    );
    expect(changed.status).toBe(200);
    texts.push(changed.text);
    texts.push((await ctx.api.get(`/users?q=${u.username}`, { token: admin.token })).text);
    texts.push((await ctx.api.get(`/users/${reg.body.id}`, { token: admin.token })).text);
    texts.push((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).text);
    const hash = await storedHash(reg.body.id);
    for (const text of texts) {
      expect(text).not.toContain(u.password);
      expect(text).not.toContain(hash);
      expect(text).not.toMatch(/hashed_password|password_hash|\$2[aby]\$/);
    }
  });
});

describe('configuration', () => {
  it('production refuses a bcrypt cost under 10 and a missing or short pepper', () => {
    const production = {
      NODE_ENV: 'production',
      JWT_SECRET: 'j'.repeat(32),
      PASSWORD_PEPPER: 'p'.repeat(32),
      DATABASE_URL: 'postgres://u@localhost/db',
    };
    expect(() => loadConfig(production)).not.toThrow();
    expect(() => loadConfig({ ...production, BCRYPT_COST: '9' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...production, PASSWORD_PEPPER: undefined })).toThrow(ConfigError);
    expect(() => loadConfig({ ...production, PASSWORD_PEPPER: 'short' })).toThrow(ConfigError);
    expect(loadConfig(production).bcryptCost).toBeGreaterThanOrEqual(12);
  });
});
