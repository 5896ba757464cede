import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse } from '../../helpers/http.js';

const noDetails = { userAgent: undefined, address: undefined };

type Account = Awaited<ReturnType<typeof registerAndLogin>>;
type Response = HttpResponse;

/**
 * Logins that race a change of credentials, made certain rather than likely: the test's own
 * connection locks refresh_tokens, so each login has read the user (and checked the old password)
 * and inserted its session, but cannot commit it. The change then commits, the lock is released,
 * the logins commit. Whatever they answered, no session made from the old credentials may work.
 */
describe.each([
  ['without the session cache', 0],
  ['with the session cache', 60_000],
])('logins racing a change of credentials (%s)', (_label, authCacheTtlMs) => {
  let ctx: TestContext;
  let admin: Account;
  beforeAll(async () => {
    ctx = await setupTestApp({ authCacheTtlMs });
    admin = await registerAndLogin(ctx.api, 'root');
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  });
  afterAll(() => ctx.close());

  async function parkedLogins(account: Account, count: number, change: () => Promise<void>): Promise<Response[]> {
    const locker = new pg.Client({ connectionString: ctx.db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE refresh_tokens IN EXCLUSIVE MODE');
      const logins = Array.from({ length: count }, () =>
        ctx.api.post('/auth/login', { username: account.username, password: account.password }),
      );
      // Wait (without a clock) until every login waits on the lock, i.e. has passed its password check.
      for (let i = 0; ; i++) {
        const { rows } = await locker.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'refresh_tokens'::regclass AND NOT granted",
        );
        if ((rows[0]?.n ?? 0) >= count) break;
        if (i > 1000) throw new Error('the logins never reached the lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      await change();
      await locker.query('ROLLBACK');
      return await Promise.all(logins);
    } finally {
      await locker.end();
    }
  }

  /** Each racing login either failed or gave tokens that are refused, access and refresh alike. */
  async function expectDead(logins: Response[]) {
    for (const login of logins) {
      if (login.status !== 200) {
        expect(login.status).toBe(401);
        continue;
      }
      const me = await ctx.api.get('/users/me', { token: login.body.access_token });
      expect(me.status, 'an access token from the old credentials').toBe(401);
      const refreshed = await ctx.api.post('/auth/refresh', { refresh_token: login.body.refresh_token });
      expect(refreshed.status, 'a refresh token from the old credentials').toBe(401);
    }
  }

  it('a password change ends the logins made with the old password, even those committing after it', async () => {
    const user = await registerAndLogin(ctx.api, 'racer');
    const newPassword = `${user.password}-new`;
    const logins = await parkedLogins(user, 3, async () => {
      const changed = await ctx.api.patch(
        '/users/me',
        { password: newPassword, current_password: user.password },
        { token: user.token },
      );
      expect(changed.status).toBe(200);
    });
    // The race happened: the logins checked the old password and were not refused on the spot.
    expect(logins.map((l) => l.status)).toEqual([200, 200, 200]);
    await expectDead(logins);
    // The login that made the change survives it; the new password logs in; the old one does not.
    expect((await ctx.api.get('/users/me', { token: user.token })).status).toBe(200);
    const fresh = await ctx.api.post('/auth/login', { username: user.username, password: newPassword });
    expect(fresh.status).toBe(200);
    expect((await ctx.api.get('/users/me', { token: fresh.body.access_token })).status).toBe(200);
    expect((await ctx.api.post('/auth/login', { username: user.username, password: user.password })).status).toBe(401);
  });

  it('a deactivation ends the logins racing it for good: reactivation does not revive them', async () => {
    const user = await registerAndLogin(ctx.api, 'racer');
    const logins = await parkedLogins(user, 3, async () => {
      expect((await ctx.api.patch(`/users/${user.id}`, { is_active: false }, { token: admin.token })).status).toBe(200);
    });
    expect(logins.map((l) => l.status)).toEqual([200, 200, 200]);
    expect((await ctx.api.patch(`/users/${user.id}`, { is_active: true }, { token: admin.token })).status).toBe(200);
    await expectDead([
      ...logins,
      { status: 200, body: { access_token: user.token, refresh_token: user.refreshToken } } as Response,
    ]);
    // A login after the reactivation works.
    const fresh = await ctx.api.post('/auth/login', { username: user.username, password: user.password });
    expect((await ctx.api.get('/users/me', { token: fresh.body.access_token })).status).toBe(200);
  });

  it('a login whose password check predates a committed change creates no session at all', async () => {
    const user = await registerAndLogin(ctx.api, 'racer');
    const read = async () =>
      (await ctx.db.pool.query('SELECT credentials_version AS v FROM users WHERE id = $1', [user.id])).rows[0].v as number;
    const before = await read();
    await ctx.db.pool.query("UPDATE users SET hashed_password = hashed_password || '' WHERE id = $1", [user.id]);
    expect(await read(), 'an unchanged hash does not move the version').toBe(before);
    const changed = await ctx.api.patch(
      '/users/me',
      { password: `${user.password}-2`, current_password: user.password },
      { token: user.token },
    );
    expect(changed.status).toBe(200);
    expect(await read()).toBe(before + 1);
    // What the login would do after checking the password against the hash it read at `before`.
    expect(await ctx.app.sessionsRepository.createSession(user.id, before, 'stale-refresh-token', 1, noDetails)).toBeUndefined();
    expect(await ctx.app.sessionsRepository.createSession(user.id, before + 1, 'fresh-refresh-token', 1, noDetails)).toEqual(
      expect.any(String),
    );
  });
});
