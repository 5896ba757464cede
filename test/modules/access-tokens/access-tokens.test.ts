import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import { expectProblem } from '../../helpers/security.js';
import { startSmtpServer, type TestSmtpServer } from '../../helpers/smtp.js';

const TOKEN = /^tap_[A-Za-z0-9_-]{43}$/;
const PUBLIC_URL = 'https://tasks.example.test/app';

let ctx: TestContext;
let smtp: TestSmtpServer;

beforeAll(async () => {
  smtp = await startSmtpServer();
  ctx = await setupTestApp({
    smtpUrl: smtp.url,
    publicUrl: PUBLIC_URL,
    mail: { maxAttempts: 20, retryBaseMs: 100, pollIntervalMs: 50 },
  });
});
afterAll(async () => {
  await ctx?.close();
  await smtp?.stop();
});

type Account = Awaited<ReturnType<typeof registerAndLogin>>;

async function createToken(owner: Account, body: Record<string, unknown> = {}) {
  const res = await ctx.api.post(
    '/users/me/tokens',
    { name: `t-${Math.random().toString(36).slice(2)}`, scopes: ['tasks:read'], ...body },
    { token: owner.token },
  );
  expect(res.status, res.text).toBe(201);
  return res.body as { id: number; token: string; prefix: string; scopes: string[]; expires_at: string; name: string };
}

const me = (token: string) => ctx.api.get('/users/me', { token });

describe('personal access tokens: create, list, delete', () => {
  it('shows the token once, stores only its digest, and lists it without the secret', async () => {
    const alice = await registerAndLogin(ctx.api, 'pat');
    const res = await ctx.api.post(
      '/users/me/tokens',
      { name: 'backup script', scopes: ['tasks:read', 'profile:read'] },
      { token: alice.token },
    );
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const created = res.body;
    expect(created.token).toMatch(TOKEN);
    expect(created.prefix).toBe(created.token.slice(4, 12));
    expect(created).toMatchObject({ name: 'backup script', scopes: ['tasks:read', 'profile:read'], last_used_at: null });
    // 30 days by default.
    const days = (Date.parse(created.expires_at) - Date.parse(created.created_at)) / 86_400_000;
    expect(days).toBeCloseTo(30, 3);

    const stored = await ctx.db.pool.query('SELECT * FROM personal_access_tokens WHERE id = $1', [created.id]);
    expect(stored.rows[0].token_hash).toEqual(createHash('sha256').update(created.token).digest());
    expect(JSON.stringify(stored.rows[0])).not.toContain(created.token.slice(4));

    const list = await ctx.api.get('/users/me/tokens', { token: alice.token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([{ ...created, token: undefined }].map(({ token: _, ...rest }) => rest));
    expect(list.text).not.toContain(created.token.slice(4));

    // It authenticates, and its use is recorded (once a minute at most).
    expect((await me(created.token)).status).toBe(200);
    const used = await ctx.api.get('/users/me/tokens', { token: alice.token });
    expect(used.body[0].last_used_at).not.toBeNull();
    const first = used.body[0].last_used_at;
    expect((await me(created.token)).status).toBe(200);
    expect((await ctx.api.get('/users/me/tokens', { token: alice.token })).body[0].last_used_at).toBe(first);
  });

  it('delete ends the token; another user’s token id and an unknown one are the same 404', async () => {
    const alice = await registerAndLogin(ctx.api, 'pat');
    const bob = await registerAndLogin(ctx.api, 'pat');
    const token = await createToken(alice);
    const bobs = await createToken(bob);
    const foreign = await ctx.api.delete(`/users/me/tokens/${bobs.id}`, { token: alice.token });
    const unknown = await ctx.api.delete('/users/me/tokens/999999999', { token: alice.token });
    expectProblem(foreign, 404);
    expectProblem(unknown, 404);
    expect(foreign.body).toEqual(unknown.body);
    expect((await ctx.api.get('/tasks', { token: bobs.token })).status).toBe(200);

    expect((await ctx.api.delete(`/users/me/tokens/${token.id}`, { token: alice.token })).status).toBe(204);
    expectProblem(await ctx.api.get('/tasks', { token: token.token }), 401);
    expect((await ctx.api.get('/users/me/tokens', { token: alice.token })).body).toEqual([]);
    expectProblem(await ctx.api.delete(`/users/me/tokens/${token.id}`, { token: alice.token }), 404);
  });

  it('refuses bad names, scopes and lifetimes with a 4xx; a name already used is a 409', async () => {
    const alice = await registerAndLogin(ctx.api, 'pat');
    const post = (body: Record<string, unknown>) => ctx.api.post('/users/me/tokens', body, { token: alice.token });
    for (const body of [
      { name: '', scopes: ['tasks:read'] },
      { name: 'x'.repeat(101), scopes: ['tasks:read'] },
      { name: 'ok', scopes: [] },
      { name: 'ok', scopes: ['tasks:delete'] },
      { name: 'ok', scopes: ['tasks:read', 'tasks:read'] },
      { name: 'ok', scopes: ['tasks:read'], expires_in_days: 0 },
      { name: 'ok', scopes: ['tasks:read'], expires_in_days: 366 },
      { name: 'ok', scopes: ['tasks:read'], expires_in_days: null },
      { name: 'ok', scopes: ['tasks:read'], user_id: 1 },
    ]) {
      expectProblem(await post(body), 422);
    }
    expect((await post({ name: 'x'.repeat(100), scopes: ['tasks:read'], expires_in_days: 365 })).status).toBe(201);
    expect((await post({ name: 'one day', scopes: ['tasks:read'], expires_in_days: 1 })).status).toBe(201);
    expectProblem(await post({ name: 'one day', scopes: ['projects:read'] }), 409);
    // The same name is another user's to use.
    const bob = await registerAndLogin(ctx.api, 'pat');
    expect(
      (await ctx.api.post('/users/me/tokens', { name: 'one day', scopes: ['tasks:read'] }, { token: bob.token })).status,
    ).toBe(201);
  });

  it('an account holds at most 50 live tokens (409 beyond); a deleted one frees its place', async () => {
    const alice = await registerAndLogin(ctx.api, 'pat');
    const made = await Promise.all(
      Array.from({ length: 52 }, (_, i) =>
        ctx.api.post('/users/me/tokens', { name: `n${i}`, scopes: ['tasks:read'] }, { token: alice.token }),
      ),
    );
    expect(made.filter((r) => r.status === 201)).toHaveLength(50);
    for (const refused of made.filter((r) => r.status !== 201)) expectProblem(refused, 409);
    const list = await ctx.api.get('/users/me/tokens', { token: alice.token });
    expect(list.body).toHaveLength(50);
    expect((await ctx.api.delete(`/users/me/tokens/${list.body[0].id}`, { token: alice.token })).status).toBe(204);
    expect(
      (await ctx.api.post('/users/me/tokens', { name: 'again', scopes: ['tasks:read'] }, { token: alice.token })).status,
    ).toBe(201);
  });

  it('only an admin may ask for the admin scope (403 for a user)', async () => {
    const alice = await registerAndLogin(ctx.api, 'pat');
    expectProblem(await ctx.api.post('/users/me/tokens', { name: 'a', scopes: ['admin'] }, { token: alice.token }), 403);
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [alice.id]);
    expect((await ctx.api.post('/users/me/tokens', { name: 'a', scopes: ['admin'] }, { token: alice.token })).status).toBe(201);
  });

  it('a token never reaches account management, whatever its scopes', async () => {
    const admin = await registerAndLogin(ctx.api, 'pat');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const every = await createToken(admin, {
      scopes: ['tasks:read', 'tasks:write', 'projects:read', 'projects:write', 'profile:read', 'admin'],
    });
    const token = { token: every.token };
    const refusals = [
      await ctx.api.post('/users/me/tokens', { name: 'minted', scopes: ['tasks:read'] }, token),
      await ctx.api.get('/users/me/tokens', token),
      await ctx.api.delete(`/users/me/tokens/${every.id}`, token),
      await ctx.api.patch('/users/me', { current_password: admin.password, password: 'a new password' }, token),
      await ctx.api.post('/auth/logout', undefined, token),
      await ctx.api.post('/auth/verify-email/resend', undefined, token),
    ];
    for (const res of refusals) {
      expectProblem(res, 403);
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
    }
    // Nothing changed: the token still works, and it is still the only one.
    expect((await me(every.token)).status).toBe(200);
    expect((await ctx.api.get('/users/me/tokens', { token: admin.token })).body).toHaveLength(1);
  });

  it('a malformed tap_ token is the same 401 as an unknown one, with no database work', async () => {
    const unknown = await ctx.api.get('/tasks', { token: `tap_${'A'.repeat(43)}` });
    expectProblem(unknown, 401);
    for (const bad of [
      'tap_',
      `tap_${'A'.repeat(42)}`,
      `tap_${'A'.repeat(44)}`,
      `tap_${'A'.repeat(42)}=`,
      `tap_${'A'.repeat(42)}.`,
      `tap_${'x'.repeat(5000)}`,
    ]) {
      const res = await ctx.api.get('/tasks', { token: bad });
      expectProblem(res, 401);
      expect(res.body).toEqual(unknown.body);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });
});

describe('what ends a token', () => {
  it('a password change', async () => {
    const alice = await registerAndLogin(ctx.api, 'end');
    const { token } = await createToken(alice);
    const changed = await ctx.api.patch(
      '/users/me',
      { current_password: alice.password, password: 'a changed password' },
      { token: alice.token },
    );
    expect(changed.status, changed.text).toBe(200);
    expectProblem(await ctx.api.get('/tasks', { token }), 401);
    expect((await ctx.api.get('/users/me/tokens', { token: alice.token })).body).toEqual([]);
  });

  it('a password reset', async () => {
    const alice = await registerAndLogin(ctx.api, 'end');
    const { token } = await createToken(alice);
    expect((await ctx.api.post('/auth/password-reset', { email: alice.email })).status).toBe(202);
    const mail = await smtp.waitFor(alice.email, { subject: 'Reset your task-api password' });
    const link = /token=([A-Za-z0-9_-]{43})/.exec(mail.parsed.text ?? '');
    expect(link).not.toBeNull();
    const confirmed = await ctx.api.post('/auth/password-reset/confirm', { token: link?.[1], new_password: 'a reset password' });
    expect(confirmed.status, confirmed.text).toBe(204);
    expectProblem(await ctx.api.get('/tasks', { token }), 401);
  });

  it('a deactivation, for good: reactivation does not revive it', async () => {
    const alice = await registerAndLogin(ctx.api, 'end');
    const { token } = await createToken(alice);
    expect((await ctx.api.get('/tasks', { token })).status).toBe(200);
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [alice.id]);
    expectProblem(await ctx.api.get('/tasks', { token }), 401);
    await ctx.db.pool.query('UPDATE users SET is_active = true WHERE id = $1', [alice.id]);
    expectProblem(await ctx.api.get('/tasks', { token }), 401);
  });

  it('its expiry; the maintenance prune deletes it then', async () => {
    const alice = await registerAndLogin(ctx.api, 'end');
    const { token, id } = await createToken(alice, { expires_in_days: 1 });
    expect((await ctx.api.get('/tasks', { token })).status).toBe(200);
    await ctx.db.pool.query("UPDATE personal_access_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
    expectProblem(await ctx.api.get('/tasks', { token }), 401);
    expect((await ctx.api.get('/users/me/tokens', { token: alice.token })).body).toEqual([]);
    expect(await ctx.app.accessTokensRepository.pruneExpired()).toBeGreaterThanOrEqual(1);
    expect((await ctx.db.pool.query('SELECT 1 FROM personal_access_tokens WHERE id = $1', [id])).rowCount).toBe(0);
  });
});

describe('the admin scope at use time', () => {
  it('needs the admin scope and the admin role, read on every request: a demoted admin’s token loses the admin routes', async () => {
    const admin = await registerAndLogin(ctx.api, 'adm');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const withAdmin = await createToken(admin, { scopes: ['admin', 'tasks:read', 'profile:read'] });
    const without = await createToken(admin, { scopes: ['tasks:read', 'profile:read'] });
    const bob = await registerAndLogin(ctx.api, 'adm');
    await ctx.api.post('/tasks', { title: 'bob’s' }, { token: bob.token });

    expect((await ctx.api.get('/users', { token: withAdmin.token })).status).toBe(200);
    const refused = await ctx.api.get('/users', { token: without.token });
    expectProblem(refused, 403);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="admin"');
    // Without the admin scope, an admin's token acts as a user's: only the caller's own tasks.
    const seen = await ctx.api.get(`/tasks?user_id=${bob.id}`, { token: withAdmin.token });
    expect(seen.status).toBe(200);
    expect(seen.body.length).toBeGreaterThan(0);
    expectProblem(await ctx.api.get(`/tasks?user_id=${bob.id}`, { token: without.token }), 403);
    // The profile still shows the account's role.
    expect((await me(without.token)).body.role).toBe('admin');

    await ctx.db.pool.query("UPDATE users SET role = 'user' WHERE id = $1", [admin.id]);
    expectProblem(await ctx.api.get('/users', { token: withAdmin.token }), 403);
    expect((await me(withAdmin.token)).body.role).toBe('user');
  });
});
