import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, startApp, type TestContext } from '../../helpers/app.js';

let ctx: TestContext;
let admin: Awaited<ReturnType<typeof registerAndLogin>>;

beforeAll(async () => {
  ctx = await setupTestApp();
  admin = await registerAndLogin(ctx.api, 'root');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
});
afterAll(() => ctx.close());

describe('admin routes refuse non-admins', () => {
  it('no token → 401 and a user → 403 on GET /users, GET /users/{id}, PATCH /users/{id}', async () => {
    const user = await registerAndLogin(ctx.api);
    const calls = [
      (token?: string) => ctx.api.get('/users', token ? { token } : {}),
      (token?: string) => ctx.api.get(`/users/${admin.id}`, token ? { token } : {}),
      (token?: string) => ctx.api.patch(`/users/${user.id}`, { role: 'admin' }, token ? { token } : {}),
    ];
    for (const call of calls) {
      expect((await call()).status).toBe(401);
      expect((await call(user.token)).status).toBe(403);
    }
    // The attempted self-promotion did nothing.
    expect((await ctx.api.get('/users/me', { token: user.token })).body.role).toBe('user');
  });
});

describe('GET /users', () => {
  it('pages like tasks with X-Total-Count and Link, and filters by role, is_active and q', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await registerAndLogin(ctx.api, `zeta${i}x`));
    await ctx.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [made[0]?.id]);

    const all = await ctx.api.get('/users?limit=2', { token: admin.token });
    expect(all.status).toBe(200);
    expect(Array.isArray(all.body)).toBe(true);
    expect(all.body).toHaveLength(2);
    const total = Number(all.headers.get('x-total-count'));
    expect(total).toBeGreaterThanOrEqual(6);
    expect(all.headers.get('link')).toContain('rel="next"');
    expect(all.body[0]).not.toHaveProperty('hashed_password');

    const q = await ctx.api.get('/users?q=ZETA&limit=100', { token: admin.token });
    expect(q.body.map((u: { id: number }) => u.id)).toEqual(made.map((u) => u.id));
    expect(q.headers.get('x-total-count')).toBe('5');

    const inactive = await ctx.api.get('/users?is_active=false&q=zeta', { token: admin.token });
    expect(inactive.body.map((u: { id: number }) => u.id)).toEqual([made[0]?.id]);

    const admins = await ctx.api.get('/users?role=admin', { token: admin.token });
    expect(admins.body.every((u: { role: string }) => u.role === 'admin')).toBe(true);
    expect(admins.body.map((u: { id: number }) => u.id)).toContain(admin.id);

    const byEmail = await ctx.api.get(`/users?q=${encodeURIComponent(made[2]?.email ?? '')}`, { token: admin.token });
    expect(byEmail.body.map((u: { id: number }) => u.id)).toEqual([made[2]?.id]);

    const last = await ctx.api.get(`/users?limit=2&offset=${total}`, { token: admin.token });
    expect(last.body).toEqual([]);
    expect(last.headers.get('x-total-count')).toBe(String(total));
  });

  it.each(['limit=0', 'limit=101', 'offset=-1', 'role=owner', 'is_active=maybe', 'sort=id'])('%s → 422', async (query) => {
    const res = await ctx.api.get(`/users?${query}`, { token: admin.token });
    expect(res.status).toBe(422);
    expect(res.body.errors.length).toBeGreaterThan(0);
  });
});

describe('GET and PATCH /users/{id}', () => {
  it('reads a user; 404 for an unknown id; 422 for a bad id', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.get(`/users/${u.id}`, { token: admin.token });
    expect(res.body).toMatchObject({ id: u.id, username: u.username });
    expect((await ctx.api.get('/users/987654321', { token: admin.token })).status).toBe(404);
    expect((await ctx.api.get('/users/abc', { token: admin.token })).status).toBe(422);
  });

  it('deactivation takes effect on the next request on every instance, and ends the user’s logins', async () => {
    const u = await registerAndLogin(ctx.api);
    const other = await startApp(ctx.config);
    try {
      expect((await other.api.get('/users/me', { token: u.token })).status).toBe(200);
      const res = await ctx.api.patch(`/users/${u.id}`, { is_active: false }, { token: admin.token });
      expect(res.status).toBe(200);
      expect(res.body.is_active).toBe(false);
      expect((await other.api.get('/users/me', { token: u.token })).status).toBe(401);
      expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(401);
      // Reactivated: may log in again, but the old login stays dead.
      await ctx.api.patch(`/users/${u.id}`, { is_active: true }, { token: admin.token });
      expect((await ctx.api.get('/users/me', { token: u.token })).status).toBe(401);
      expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('promotion and demotion take effect on the next request', async () => {
    const u = await registerAndLogin(ctx.api);
    expect((await ctx.api.get('/users', { token: u.token })).status).toBe(403);
    await ctx.api.patch(`/users/${u.id}`, { role: 'admin' }, { token: admin.token });
    expect((await ctx.api.get('/users', { token: u.token })).status).toBe(200);
    await ctx.api.patch(`/users/${u.id}`, { role: 'user' }, { token: admin.token });
    expect((await ctx.api.get('/users', { token: u.token })).status).toBe(403);
  });

  it.each([
    [{}, 'an empty body'],
    [{ role: 'owner' }, 'an unknown role'],
    [{ username: 'renamed' }, 'a field admins cannot set here'],
    [{ is_active: 'no' }, 'a non-boolean'],
  ] as Array<[object, string]>)('%o (%s) → 422', async (body) => {
    const u = await registerAndLogin(ctx.api);
    expect((await ctx.api.patch(`/users/${u.id}`, body, { token: admin.token })).status).toBe(422);
  });

  it('404 for an unknown user', async () => {
    expect((await ctx.api.patch('/users/987654321', { role: 'admin' }, { token: admin.token })).status).toBe(404);
  });
});

describe('the last active admin', () => {
  it('cannot be demoted or deactivated (409); with a second admin it can', async () => {
    const fresh = await setupTestApp();
    try {
      const a = await registerAndLogin(fresh.api, 'a');
      await fresh.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [a.id]);
      for (const body of [{ role: 'user' }, { is_active: false }, { role: 'user', is_active: false }]) {
        const res = await fresh.api.patch(`/users/${a.id}`, body, { token: a.token });
        expect(res.status).toBe(409);
        expect(res.body.detail).toBe('Cannot demote or deactivate the last active admin');
      }
      // An inactive admin does not count as a remaining admin.
      const dormant = await registerAndLogin(fresh.api, 'dormant');
      await fresh.db.pool.query("UPDATE users SET role = 'admin', is_active = false WHERE id = $1", [dormant.id]);
      expect((await fresh.api.patch(`/users/${a.id}`, { role: 'user' }, { token: a.token })).status).toBe(409);

      const b = await registerAndLogin(fresh.api, 'b');
      await fresh.api.patch(`/users/${b.id}`, { role: 'admin' }, { token: a.token });
      // Both demote each other at once: exactly one succeeds.
      const results = await Promise.all([
        fresh.api.patch(`/users/${b.id}`, { role: 'user' }, { token: a.token }),
        fresh.api.patch(`/users/${a.id}`, { role: 'user' }, { token: b.token }),
      ]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses[0]).toBe(200);
      expect(statuses[1]).not.toBe(200);
      const { rows } = await fresh.db.pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND is_active");
      expect(rows[0].n).toBe(1);
    } finally {
      await fresh.close();
    }
  });
});

describe('PATCH /users/me', () => {
  it('changes the email with the current password', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.patch('/users/me', { email: `NEW-${u.email}`, current_password: u.password }, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.body.email).toBe(`new-${u.email}`);
    expect((await ctx.api.post('/auth/login', { username: `new-${u.email}`, password: u.password })).status).toBe(200);
  });

  it('a wrong current password → 403 and nothing changes', async () => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.patch(
      '/users/me',
      { password: 'a-brand-new-password', current_password: 'wrong-password' },
      { token: u.token },
    );
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe('Current password is incorrect');
    expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
  });

  it('a new password works, the old one does not, and every other login is revoked', async () => {
    const u = await registerAndLogin(ctx.api);
    const second = await ctx.api.post('/auth/login', { username: u.username, password: u.password });
    const res = await ctx.api.patch(
      '/users/me',
      { password: 'a-brand-new-password', current_password: u.password },
      { token: u.token },
    );
    expect(res.status).toBe(200);
    expect((await ctx.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect((await ctx.api.get('/users/me', { token: second.body.access_token })).status).toBe(401);
    expect((await ctx.api.post('/auth/refresh', { refresh_token: second.body.refresh_token })).status).toBe(401);
    expect((await ctx.api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(401);
    expect((await ctx.api.post('/auth/login', { username: u.username, password: 'a-brand-new-password' })).status).toBe(200);
  });

  it('an email taken by another user → 409', async () => {
    const u = await registerAndLogin(ctx.api);
    const other = await registerAndLogin(ctx.api);
    const res = await ctx.api.patch(
      '/users/me',
      { email: other.email.toUpperCase(), current_password: u.password },
      { token: u.token },
    );
    expect(res.status).toBe(409);
  });

  it.each([
    [{ current_password: 'x' }, 'email'],
    [{ email: 'a@example.com' }, 'current_password'],
    [{ email: 'not-an-email', current_password: 'x' }, 'email'],
    [{ password: 'short', current_password: 'x' }, 'password'],
    [{ role: 'admin', current_password: 'x' }, 'role'],
    [{ is_active: true, current_password: 'x' }, 'is_active'],
  ])('%o → 422 naming %s', async (body, field) => {
    const u = await registerAndLogin(ctx.api);
    const res = await ctx.api.patch('/users/me', body, { token: u.token });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('needs a token', async () => {
    expect((await ctx.api.patch('/users/me', { email: 'a@example.com', current_password: 'x' })).status).toBe(401);
  });
});
