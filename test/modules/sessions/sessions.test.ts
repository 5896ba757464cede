import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, sessionIdOf, setupTestApp, startApp, type TestContext } from '../../helpers/app.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx.close());

type Account = Awaited<ReturnType<typeof registerAndLogin>>;
interface Login {
  token: string;
  refreshToken: string;
  sessionId: string;
}

const loginOf = (body: { access_token: string; refresh_token: string }): Login => ({
  token: body.access_token,
  refreshToken: body.refresh_token,
  sessionId: sessionIdOf(body.access_token),
});

/** Logs the account in again through inject, from `remoteAddress` with `userAgent`. */
async function loginFrom(account: Account, remoteAddress: string, userAgent = 'Test/1'): Promise<Login> {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress,
    headers: { 'user-agent': userAgent },
    payload: { username: account.username, password: account.password },
  });
  expect(res.statusCode).toBe(200);
  return loginOf(res.json());
}

/** Logs the account in over plain HTTP with no User-Agent header at all (fetch and inject always send one). */
async function loginWithoutUserAgent(account: Account): Promise<Login> {
  const body = JSON.stringify({ username: account.username, password: account.password });
  const text = await new Promise<string>((resolve, reject) => {
    const req = http.request(
      `${ctx.baseUrl}/api/v1/auth/login`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let received = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          received += chunk;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(received) : reject(new Error(`login: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  return loginOf(JSON.parse(text));
}

const list = (token: string) => ctx.api.get('/users/me/sessions', { token });
const me = async (token: string) => (await ctx.api.get('/users/me', { token })).status;
const refreshes = async (refreshToken: string) => (await ctx.api.post('/auth/refresh', { refresh_token: refreshToken })).status;

describe('GET /users/me/sessions', () => {
  it('lists each live login with its masked address, user agent, times, and which one is the caller', async () => {
    const u = await registerAndLogin(ctx.api, 'list');
    const v4 = await loginFrom(u, '203.0.113.77', 'Agent/4');
    const v6 = await loginFrom(u, '2001:db8:abcd:12:aaaa:bbbb:cccc:dddd', 'Agent/6');
    const mapped = await loginFrom(u, '::ffff:198.51.100.9', 'Agent/mapped');
    const anonymous = await loginWithoutUserAgent(u);

    const res = await list(v4.token);
    expect(res.status).toBe(200);
    const byId = new Map((res.body as Array<Record<string, unknown>>).map((s) => [s.id, s]));
    expect(byId.size).toBe(5); // registerAndLogin's own login, over HTTP from 127.0.0.1, is one of them
    expect(byId.get(v4.sessionId)).toEqual({
      id: v4.sessionId,
      created_at: expect.any(String),
      last_used_at: expect.any(String),
      user_agent: 'Agent/4',
      address: '203.0.113.0/24',
      current: true,
    });
    expect(byId.get(v6.sessionId)).toMatchObject({ user_agent: 'Agent/6', address: '2001:db8:abcd::/48', current: false });
    expect(byId.get(mapped.sessionId)).toMatchObject({ user_agent: 'Agent/mapped', address: '198.51.100.0/24' });
    expect(byId.get(anonymous.sessionId)).toMatchObject({ user_agent: null, address: '127.0.0.0/24', current: false });
    expect(byId.get(sessionIdOf(u.token))).toMatchObject({ address: '127.0.0.0/24', current: false });
    // Only the caller's session is current, whoever asks.
    const fromV6 = (await list(v6.token)).body as Array<{ id: string; current: boolean }>;
    expect(fromV6.filter((s) => s.current).map((s) => s.id)).toEqual([v6.sessionId]);
    // The full address is kept nowhere: the row holds the network only.
    const { rows } = await ctx.db.pool.query('SELECT address FROM auth_sessions WHERE user_id = $1 ORDER BY address', [u.id]);
    expect(rows.map((r) => r.address)).toEqual([
      '127.0.0.0/24',
      '127.0.0.0/24',
      '198.51.100.0/24',
      '2001:db8:abcd::/48',
      '203.0.113.0/24',
    ]);
  });

  it('keeps 512 characters of a user agent', async () => {
    const u = await registerAndLogin(ctx.api, 'agent');
    const long = await loginFrom(u, '203.0.113.1', `${'a'.repeat(500)}${'b'.repeat(1500)}`);
    const mine = ((await list(long.token)).body as Array<{ current: boolean; user_agent: string }>).find((s) => s.current);
    expect(mine?.user_agent).toBe(`${'a'.repeat(500)}${'b'.repeat(12)}`);
  });

  it('reads the address from X-Forwarded-For only behind a trusted proxy', async () => {
    const u = await registerAndLogin(ctx.api, 'proxy');
    const behindProxy = await startApp({ ...ctx.config, trustProxy: ['127.0.0.1'] });
    try {
      const headers = { 'x-forwarded-for': '2001:db8:77:1::1, 198.51.100.200' };
      const login = await behindProxy.api.post('/auth/login', { username: u.username, password: u.password }, { headers });
      const direct = await ctx.api.post('/auth/login', { username: u.username, password: u.password }, { headers });
      const shown = new Map(((await list(u.token)).body as Array<{ id: string; address: string }>).map((s) => [s.id, s.address]));
      expect(shown.get(sessionIdOf(login.body.access_token))).toBe('198.51.100.0/24');
      expect(shown.get(sessionIdOf(direct.body.access_token))).toBe('127.0.0.0/24');
    } finally {
      await behindProxy.close();
    }
  });

  it('a refresh is a use, from where the client is now', async () => {
    const u = await registerAndLogin(ctx.api, 'moved');
    const login = await loginFrom(u, '203.0.113.5', 'Old/1');
    await ctx.db.pool.query("UPDATE auth_sessions SET last_used_at = now() - interval '1 hour' WHERE id = $1", [login.sessionId]);
    const refreshed = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      remoteAddress: '2001:db8:9:9::9',
      headers: { 'user-agent': 'New/2' },
      payload: { refresh_token: login.refreshToken },
    });
    expect(refreshed.statusCode).toBe(200);
    const { rows } = await ctx.db.pool.query(
      "SELECT user_agent, address, last_used_at > now() - interval '1 minute' AS recent FROM auth_sessions WHERE id = $1",
      [login.sessionId],
    );
    expect(rows[0]).toEqual({ user_agent: 'New/2', address: '2001:db8:9::/48', recent: true });
  });

  it('lists only live logins: not logged out, expired, or made before the credentials changed', async () => {
    const u = await registerAndLogin(ctx.api, 'live');
    const [loggedOut, expired, stale, kept] = await Promise.all([1, 2, 3, 4].map(() => loginFrom(u, '203.0.113.9')));
    if (!loggedOut || !expired || !stale || !kept) throw new Error('logins missing');
    expect((await ctx.api.post('/auth/logout', undefined, { token: loggedOut.token })).status).toBe(204);
    await ctx.db.pool.query("UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
      expired.sessionId,
    ]);
    await ctx.db.pool.query('UPDATE auth_sessions SET credentials_version = credentials_version - 1 WHERE id = $1', [
      stale.sessionId,
    ]);
    const ids = ((await list(kept.token)).body as Array<{ id: string }>).map((s) => s.id).sort();
    expect(ids).toEqual([kept.sessionId, sessionIdOf(u.token)].sort());
  });

  it('puts the most recently used first', async () => {
    const u = await registerAndLogin(ctx.api, 'order');
    const older = await loginFrom(u, '203.0.113.1');
    const newer = await loginFrom(u, '203.0.113.2');
    const first = sessionIdOf(u.token);
    await ctx.db.pool.query(
      'UPDATE auth_sessions SET last_used_at = now() - make_interval(mins => CASE id WHEN $1::uuid THEN 30 WHEN $2::uuid THEN 20 ELSE 10 END) WHERE user_id = $3',
      [newer.sessionId, first, u.id],
    );
    // Asked with the least recently used login: the request is a use of it, so it comes first.
    const ids = ((await list(newer.token)).body as Array<{ id: string }>).map((s) => s.id);
    expect(ids).toEqual([newer.sessionId, older.sessionId, first]);
    // And so is the next, with another.
    const again = ((await list(older.token)).body as Array<{ id: string }>).map((s) => s.id);
    expect(again).toEqual([older.sessionId, newer.sessionId, first]);
  });

  it('needs a token', async () => {
    expect((await ctx.api.get('/users/me/sessions')).status).toBe(401);
  });
});

describe('ending sessions', () => {
  it('DELETE /users/me/sessions/{id} ends that one: its access token and its refresh token are refused', async () => {
    const u = await registerAndLogin(ctx.api, 'endone');
    const other = await loginFrom(u, '203.0.113.3');
    expect((await ctx.api.delete(`/users/me/sessions/${other.sessionId}`, { token: u.token })).status).toBe(204);
    expect(await me(other.token)).toBe(401);
    expect(await refreshes(other.refreshToken)).toBe(401);
    // The caller's own login is untouched.
    expect(await me(u.token)).toBe(200);
    expect(await refreshes(u.refreshToken)).toBe(200);
    const { rows } = await ctx.db.pool.query('SELECT revoked_reason FROM auth_sessions WHERE id = $1', [other.sessionId]);
    expect(rows[0]?.revoked_reason).toBe('user_ended');
  });

  it('ending the caller’s own session by id works as a logout', async () => {
    const u = await registerAndLogin(ctx.api, 'endself');
    expect((await ctx.api.delete(`/users/me/sessions/${sessionIdOf(u.token)}`, { token: u.token })).status).toBe(204);
    expect(await me(u.token)).toBe(401);
    expect(await refreshes(u.refreshToken)).toBe(401);
  });

  it('another user’s session, an unknown id and an ended session are one 404, and end nothing', async () => {
    const a = await registerAndLogin(ctx.api, 'owner');
    const b = await registerAndLogin(ctx.api, 'intruder');
    const ended = await loginFrom(b, '203.0.113.4');
    expect((await ctx.api.post('/auth/logout', undefined, { token: ended.token })).status).toBe(204);

    const answers = [];
    for (const id of [sessionIdOf(a.token), randomUUID(), ended.sessionId, sessionIdOf(a.token).toUpperCase()]) {
      const res = await ctx.api.delete(`/users/me/sessions/${id}`, { token: b.token });
      answers.push({ status: res.status, type: res.headers.get('content-type'), body: res.body });
    }
    expect(answers[0]).toEqual({
      status: 404,
      type: expect.stringMatching(/^application\/problem\+json/),
      body: expect.objectContaining({ status: 404, detail: 'Session not found' }),
    });
    for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
    // A's login is as it was.
    expect(await me(a.token)).toBe(200);
    expect(await refreshes(a.refreshToken)).toBe(200);
    const { rows } = await ctx.db.pool.query(
      'SELECT count(*)::int AS n FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NOT NULL',
      [a.id],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('refuses ids that are not session ids with a 422', async () => {
    const u = await registerAndLogin(ctx.api, 'badid');
    const uuid = randomUUID();
    for (const id of ['1', 'not-a-uuid', `urn:uuid:${uuid}`, `${uuid}0`, uuid.replaceAll('-', ''), `{${uuid}}`, '%00']) {
      const res = await ctx.api.delete(`/users/me/sessions/${encodeURIComponent(id)}`, { token: u.token });
      expect(res.status, id).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await me(u.token)).toBe(200);
  });

  it('DELETE /users/me/sessions ends every other session and keeps the caller’s', async () => {
    const u = await registerAndLogin(ctx.api, 'endothers');
    const others = [await loginFrom(u, '203.0.113.5'), await loginFrom(u, '2001:db8::5')];
    const bystander = await registerAndLogin(ctx.api, 'bystander');
    expect((await ctx.api.delete('/users/me/sessions', { token: u.token })).status).toBe(204);
    for (const other of others) {
      expect(await me(other.token)).toBe(401);
      expect(await refreshes(other.refreshToken)).toBe(401);
    }
    expect(await me(u.token)).toBe(200);
    expect(((await list(u.token)).body as Array<{ id: string }>).map((s) => s.id)).toEqual([sessionIdOf(u.token)]);
    expect(await me(bystander.token)).toBe(200);
    expect(await refreshes(u.refreshToken)).toBe(200);
  });

  it('POST /auth/logout-all ends every session, the caller’s included, and no other user’s', async () => {
    const u = await registerAndLogin(ctx.api, 'logoutall');
    const other = await loginFrom(u, '203.0.113.6');
    const bystander = await registerAndLogin(ctx.api, 'bystander');
    const res = await ctx.api.post('/auth/logout-all', undefined, { token: u.token });
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toBe('no-store');
    for (const login of [{ token: u.token, refreshToken: u.refreshToken }, other]) {
      expect(await me(login.token)).toBe(401);
      expect(await refreshes(login.refreshToken)).toBe(401);
    }
    expect(await me(bystander.token)).toBe(200);
    const { rows } = await ctx.db.pool.query('SELECT DISTINCT revoked_reason FROM auth_sessions WHERE user_id = $1', [u.id]);
    expect(rows).toEqual([{ revoked_reason: 'logout_all' }]);
  });

  it('a fresh login after logging out everywhere works', async () => {
    const u = await registerAndLogin(ctx.api, 'again');
    expect((await ctx.api.post('/auth/logout-all', undefined, { token: u.token })).status).toBe(204);
    const login = await ctx.api.post('/auth/login', { username: u.username, password: u.password });
    expect(login.status).toBe(200);
    expect(await me(login.body.access_token)).toBe(200);
  });
});
