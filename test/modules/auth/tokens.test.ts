import { createSigner, type SignerOptions } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, startApp, type TestContext } from '../../helpers/app.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx.close());

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function expectRefused(token: string | undefined, headers: Record<string, string> = {}) {
  const res = await ctx.api.get('/users/me', { ...(token === undefined ? {} : { token }), headers });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
}

describe('GET /users/me and token checks', () => {
  it('returns the current user', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.get('/users/me', { token: u.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: u.id, username: u.username, email: u.email, role: 'user', is_active: true });
  });

  it('refuses a missing token, a malformed header and other schemes', async () => {
    await expectRefused(undefined);
    await expectRefused(undefined, { authorization: 'Bearer' });
    await expectRefused(undefined, { authorization: 'Bearer not-a-jwt' });
    await expectRefused(undefined, { authorization: 'Basic YWRhOnBhc3N3b3Jk' });
    await expectRefused('a.b.c');
  });

  it('refuses tokens forged in every usual way', async () => {
    const u = await registerAndLogin(ctx.api);
    const [header, payload, signature] = u.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const secret = ctx.config.jwtSecret;
    const sign = (options: Partial<SignerOptions> & { key: string }, body: Record<string, unknown> = claims) =>
      createSigner(options)(body);

    // Tampered payload, original signature.
    await expectRefused(`${header}.${b64({ ...claims, sub: String(u.id + 1) })}.${signature}`);
    // alg "none", with and without a signature.
    await expectRefused(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`);
    await expectRefused(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.${signature}`);
    // Another HMAC algorithm with the right secret.
    await expectRefused(sign({ key: secret, algorithm: 'HS512', header: { alg: 'HS512', typ: 'at+jwt' } }));
    // Right algorithm, wrong secret.
    await expectRefused(sign({ key: 'x'.repeat(32), algorithm: 'HS256', header: { alg: 'HS256', typ: 'at+jwt' } }));
    // Right secret, wrong audience / issuer / type.
    await expectRefused(sign({ key: secret, header: { alg: 'HS256', typ: 'at+jwt' } }, { ...claims, aud: 'other-api' }));
    await expectRefused(sign({ key: secret, header: { alg: 'HS256', typ: 'at+jwt' } }, { ...claims, iss: 'someone-else' }));
    await expectRefused(sign({ key: secret, header: { alg: 'HS256', typ: 'JWT' } }));
    // Right secret, a required claim missing.
    const { sid: _sid, ...withoutSid } = claims;
    await expectRefused(sign({ key: secret, header: { alg: 'HS256', typ: 'at+jwt' } }, withoutSid));
    // Expired (signed an hour ago with a 30-minute life).
    const past = Date.now() - 3600_000;
    const { iat: _iat, exp: _exp, ...fresh } = claims;
    await expectRefused(
      sign({ key: secret, expiresIn: 1800_000, clockTimestamp: past, header: { alg: 'HS256', typ: 'at+jwt' } }, fresh),
    );
    // The genuine token still works: the refusals above are about the forgeries.
    expect((await ctx.api.get('/users/me', { token: u.token })).status).toBe(200);
  });

  it('refuses the token of a deactivated user on the very next request', async () => {
    const u = await registerAndLogin(ctx.api);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [u.id]);
    await expectRefused(u.token);
  });

  it('refuses the token of a deleted user', async () => {
    const u = await registerAndLogin(ctx.api);
    await ctx.db.pool.query('DELETE FROM users WHERE id = $1', [u.id]);
    await expectRefused(u.token);
  });

  it('reads the role from the database on every request', async () => {
    const u = await registerAndLogin(ctx.api);
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [u.id]);
    expect((await ctx.api.get('/users/me', { token: u.token })).body.role).toBe('admin');
  });
});

describe('POST /auth/refresh', () => {
  it('rotates: a new pair that works, and the old refresh token is spent', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 1800 });
    expect(res.body.refresh_token).not.toBe(u.refreshToken);
    expect((await ctx.api.get('/users/me', { token: res.body.access_token })).status).toBe(200);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: res.body.refresh_token })).status).toBe(200);
  });

  it('reusing a spent refresh token revokes the whole family, access tokens included', async () => {
    const u = await registerAndLogin(ctx.api);
    const second = (await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken })).body;
    const reuse = await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken });
    expect(reuse.status).toBe(401);
    expect(reuse.headers.get('www-authenticate')).toBe('Bearer');
    expect((await ctx.api.post('/auth/refresh', { refresh_token: second.refresh_token })).status).toBe(401);
    await expectRefused(second.access_token);
    await expectRefused(u.token);
    // Another login of the same user is untouched.
    const other = await ctx.api.post('/auth/login', { username: u.username, password: u.password });
    expect((await ctx.api.get('/users/me', { token: other.body.access_token })).status).toBe(200);
  });

  it('two concurrent uses of one refresh token: at most one succeeds', async () => {
    const u = await registerAndLogin(ctx.api);
    const results = await Promise.all([1, 2, 3].map(() => ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken })));
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    expect(results.every((r) => r.status === 200 || r.status === 401)).toBe(true);
  });

  it('refuses an unknown, an expired and a deactivated user’s refresh token', async () => {
    expect((await ctx.api.post('/auth/refresh', { refresh_token: 'x'.repeat(43) })).status).toBe(401);
    const expired = await registerAndLogin(ctx.api);
    await ctx.db.pool.query(
      "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id IN (SELECT id FROM auth_sessions WHERE user_id = $1)",
      [expired.id],
    );
    expect((await ctx.api.post('/auth/refresh', { refresh_token: expired.refreshToken })).status).toBe(401);
    const inactive = await registerAndLogin(ctx.api);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [inactive.id]);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: inactive.refreshToken })).status).toBe(401);
  });

  it('anything else in refresh_token (an access token, 300 characters of junk, an empty string) is the same 401 as an unknown token', async () => {
    const u = await registerAndLogin(ctx.api);
    const unknown = await ctx.api.post('/auth/refresh', { refresh_token: 'x'.repeat(43) });
    for (const presented of [u.token, 'j'.repeat(300), '', 'x'.repeat(4096), 'a\u0000b', '\ud800']) {
      const res = await ctx.api.post('/auth/refresh', { refresh_token: presented });
      expect(res.status, `${presented.slice(0, 20)}: ${res.text}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.body).toEqual(unknown.body);
    }
    // The login is untouched: its own refresh token still works.
    expect((await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(200);
  });

  it('bad bodies → 422: no field, not a string, or over the generous 4,096-character bound', async () => {
    expect((await ctx.api.post('/auth/refresh', {})).status).toBe(422);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: 42 })).status).toBe(422);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: 'x'.repeat(4097) })).status).toBe(422);
  });
});

describe('POST /auth/logout', () => {
  it('204; the access token and its refresh token are refused from then on', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.post('/auth/logout', undefined, { token: u.token });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    await expectRefused(u.token);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
    expect((await ctx.api.post('/auth/logout', undefined, { token: u.token })).status).toBe(401);
  });

  it('is refused by another instance at once, and after a restart', async () => {
    const u = await registerAndLogin(ctx.api);
    const other = await startApp(ctx.config);
    try {
      expect((await other.api.get('/users/me', { token: u.token })).status).toBe(200);
      expect((await ctx.api.post('/auth/logout', undefined, { token: u.token })).status).toBe(204);
      expect((await other.api.get('/users/me', { token: u.token })).status).toBe(401);
    } finally {
      await other.close();
    }
    const restarted = await startApp(ctx.config);
    try {
      expect((await restarted.api.get('/users/me', { token: u.token })).status).toBe(401);
    } finally {
      await restarted.close();
    }
  });

  it('needs a token', async () => {
    await expect(ctx.api.post('/auth/logout')).resolves.toMatchObject({ status: 401 });
  });
});
