import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTestApp, type TestContext, uniqueUser } from '../../helpers/app.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx.close());

describe('POST /auth/register', () => {
  it('creates a user: 201, Location, the user object without any hash', async () => {
    const u = uniqueUser();
    const res = await ctx.api.post('/auth/register', { ...u, email: u.email.toUpperCase() });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v1/users/${res.body.id}`);
    expect(Object.keys(res.body).sort()).toEqual([
      'created_at',
      'email',
      'email_verified',
      'id',
      'is_active',
      'role',
      'updated_at',
      'username',
    ]);
    expect(res.body).toMatchObject({ username: u.username, email: u.email.toLowerCase(), role: 'user', is_active: true });
    expect(res.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.text).not.toMatch(/hash|\$2b\$/);
    const { rows } = await ctx.db.pool.query('SELECT email, hashed_password FROM users WHERE id = $1', [res.body.id]);
    expect(rows[0].email).toBe(u.email.toLowerCase());
    expect(rows[0].hashed_password).toMatch(/^\$2b\$04\$/);
    expect(rows[0].hashed_password).not.toContain(u.password);
  });

  it.each([
    ['role', { role: 'admin' }],
    ['is_active', { is_active: false }],
    ['id', { id: 1 }],
    ['created_at', { created_at: '2020-01-01T00:00:00Z' }],
  ])('refuses the extra field %s with 422, and creates nobody', async (field, extra) => {
    const u = uniqueUser();
    const res = await ctx.api.post('/auth/register', { ...u, ...extra });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.errors).toContainEqual({ location: 'body', field, message: 'unknown field' });
    const { rowCount } = await ctx.db.pool.query('SELECT 1 FROM users WHERE username = $1', [u.username]);
    expect(rowCount).toBe(0);
  });

  it.each([
    ['username too short', { username: 'ab' }, 'username'],
    ['username too long', { username: 'a'.repeat(51) }, 'username'],
    ['username with a space', { username: 'ada lovelace' }, 'username'],
    ['username with @', { username: 'ada@home' }, 'username'],
    ['username not a string', { username: 12345 }, 'username'],
    ['email invalid', { email: 'not-an-email' }, 'email'],
    ['email too long', { email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com` }, 'email'],
    ['password too short', { password: 'seven77' }, 'password'],
    ['password too long', { password: 'x'.repeat(257) }, 'password'],
    ['password with NUL', { password: 'abcdefgh\u0000' }, 'password'],
  ])('%s → 422 naming the field', async (_name, change, field) => {
    const res = await ctx.api.post('/auth/register', { ...uniqueUser(), ...change });
    expect(res.status).toBe(422);
    expect(typeof res.body.detail).toBe('string');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('a missing field → 422 "field required"', async () => {
    const { username, email } = uniqueUser();
    const res = await ctx.api.post('/auth/register', { username, email });
    expect(res.status).toBe(422);
    expect(res.body.errors).toContainEqual({ location: 'body', field: 'password', message: 'field required' });
  });

  it('accepts passwords of exactly 8 and 256 characters of any Unicode', async () => {
    for (const password of ['12345678', '🙂'.repeat(256), 'שלום-мир-密码-ñ'.padEnd(40, '☃')]) {
      const u = { ...uniqueUser(), password };
      expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
      expect((await ctx.api.post('/auth/login', { username: u.username, password })).status).toBe(200);
    }
  });

  it('a username taken in any case → 409', async () => {
    const u = uniqueUser();
    expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
    const res = await ctx.api.post('/auth/register', { ...uniqueUser(), username: u.username.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe('Username already registered');
  });

  it('an email taken in any case → 409', async () => {
    const u = uniqueUser();
    expect((await ctx.api.post('/auth/register', u)).status).toBe(201);
    const res = await ctx.api.post('/auth/register', { ...uniqueUser(), email: u.email.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe('Email already registered');
  });

  it('concurrent registrations of one username: exactly one wins, the others get 409', async () => {
    const u = uniqueUser();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => ctx.api.post('/auth/register', { ...u, email: `c${i}-${u.email}` })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
  });
});
