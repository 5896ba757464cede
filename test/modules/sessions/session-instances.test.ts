import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppConfig } from '../../../src/config.js';
import { AUTH_CHANNEL } from '../../../src/modules/sessions/session-cache.js';
import { registerAndLogin, sessionIdOf, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

let db: TestDatabase;
const started: TestApp[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(started.splice(0).map((app) => app.close()));
});
afterAll(() => db?.drop());

/** `count` instances of the app on the test database, sharing one configuration (secrets included). */
async function instances(count: number, overrides: Partial<AppConfig> = {}): Promise<TestApp[]> {
  const config = testConfig(db.url, overrides);
  const apps = await Promise.all(Array.from({ length: count }, () => startApp(config)));
  started.push(...apps);
  return apps;
}

/** What the session's row looks like now: its last use, and the transaction that last wrote it. */
async function row(sessionId: string) {
  const { rows } = await db.pool.query<{ last_used_at: Date; xmin: string }>(
    'SELECT last_used_at, xmin::text AS xmin FROM auth_sessions WHERE id = $1',
    [sessionId],
  );
  if (!rows[0]) throw new Error(`no session ${sessionId}`);
  return rows[0];
}

const ageBy = (sessionId: string, seconds: number) =>
  db.pool.query('UPDATE auth_sessions SET last_used_at = now() - make_interval(secs => $2) WHERE id = $1', [sessionId, seconds]);

describe('last_used_at', () => {
  it('is written at most once a minute, by the request check itself', async () => {
    const [app] = await instances(1);
    if (!app) throw new Error('no app');
    const u = await registerAndLogin(app.api, 'touch');
    const sid = sessionIdOf(u.token);
    const afterLogin = await row(sid);
    // Within the minute after the login: requests write nothing (the row's xmin stays).
    for (let i = 0; i < 5; i++) expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect(await row(sid)).toEqual(afterLogin);

    // 61 seconds later (as far as the row knows): the next request touches it, once.
    await ageBy(sid, 61);
    const aged = await row(sid);
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    const touched = await row(sid);
    expect(touched.xmin).not.toBe(aged.xmin);
    expect(Date.now() - touched.last_used_at.getTime()).toBeLessThan(10_000);
    for (let i = 0; i < 5; i++) expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect(await row(sid)).toEqual(touched);

    // 59 seconds is within the step: nothing is written.
    await ageBy(sid, 59);
    const recent = await row(sid);
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect(await row(sid)).toEqual(recent);
  });

  it('a touch never waits for a lock: a session row held by another transaction is left for a later request', async () => {
    const [app] = await instances(1);
    if (!app) throw new Error('no app');
    const u = await registerAndLogin(app.api, 'locked');
    const sid = sessionIdOf(u.token);
    await ageBy(sid, 3600);
    const aged = await row(sid);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM auth_sessions WHERE id = $1 FOR UPDATE', [sid]);
      const answered = await Promise.race([
        app.api.get('/users/me', { token: u.token }).then((res) => res.status),
        sleep(5_000).then(() => 'still waiting'),
      ]);
      expect(answered).toBe(200);
      expect(await row(sid)).toEqual(aged);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect((await row(sid)).xmin).not.toBe(aged.xmin);
  });

  it('is not touched for a revoked session, nor on a refused request', async () => {
    const [app] = await instances(1);
    if (!app) throw new Error('no app');
    const u = await registerAndLogin(app.api, 'revoked');
    const sid = sessionIdOf(u.token);
    expect((await app.api.post('/auth/logout', undefined, { token: u.token })).status).toBe(204);
    await ageBy(sid, 3600);
    const before = await row(sid);
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(401);
    expect(await row(sid)).toEqual(before);
  });

  it('advances with the session cache on, too: a cached check lasts no longer than the step', async () => {
    const [app] = await instances(1, { authCacheTtlMs: 3_600_000 });
    if (!app) throw new Error('no app');
    const u = await registerAndLogin(app.api, 'cached');
    const sid = sessionIdOf(u.token);
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200); // now cached
    await ageBy(sid, 3600);
    const aged = await row(sid);
    // Served from the cache (the entry is fresh): no query, so no touch.
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect(await row(sid)).toEqual(aged);
    // A minute on, the app's clock says: the entry is past the step, the check asks the database, which touches.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
    expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
    vi.useRealTimers();
    const touched = await row(sid);
    expect(touched.xmin).not.toBe(aged.xmin);
    expect(touched.last_used_at.getTime()).toBeGreaterThan(aged.last_used_at.getTime() + 3_000_000);
  });
});

describe('what the database announces to the session caches', () => {
  it('a touch of last_used_at announces nothing; a revocation does', async () => {
    const [app] = await instances(1);
    if (!app) throw new Error('no app');
    const u = await registerAndLogin(app.api, 'announce');
    const sid = sessionIdOf(u.token);
    await ageBy(sid, 3600); // due for a touch on the next request
    const listener = new pg.Client({ connectionString: db.url });
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    await listener.connect();
    try {
      await listener.query(`LISTEN ${AUTH_CHANNEL}`);
      const before = await row(sid);
      expect((await app.api.get('/users/me', { token: u.token })).status).toBe(200);
      expect((await row(sid)).xmin).not.toBe(before.xmin); // it was touched
      await ageBy(sid, 3600); // and set back by hand: an update of last_used_at alone
      // A marker through the same channel: once it arrives, anything sent before it has arrived too.
      await db.pool.query(`SELECT pg_notify('${AUTH_CHANNEL}', 'marker')`);
      await vi.waitFor(() => expect(heard).toContain('marker'));
      expect(heard).toEqual(['marker']);

      expect((await app.api.delete(`/users/me/sessions/${sid}`, { token: u.token })).status).toBe(204);
      await vi.waitFor(() => expect(heard).toContain(`s:${sid}`));
    } finally {
      await listener.end();
    }
  });
});

const endings = [
  {
    name: 'DELETE /users/me/sessions/{id}',
    end: (app: TestApp, caller: string, victim: string) =>
      app.api.delete(`/users/me/sessions/${sessionIdOf(victim)}`, { token: caller }),
  },
  {
    name: 'DELETE /users/me/sessions',
    end: (app: TestApp, caller: string) => app.api.delete('/users/me/sessions', { token: caller }),
  },
  {
    name: 'POST /auth/logout-all',
    end: (app: TestApp, caller: string) => app.api.post('/auth/logout-all', undefined, { token: caller }),
  },
];

/** The statuses instance `other` answers for `token`: at once, then (with the cache) until refused or 5 s. */
async function refusedBy(other: TestApp, token: string, patient: boolean): Promise<number> {
  const deadline = Date.now() + 5_000;
  let status = (await other.api.get('/users/me', { token })).status;
  while (patient && status === 200 && Date.now() < deadline) {
    await sleep(20);
    status = (await other.api.get('/users/me', { token })).status;
  }
  return status;
}

describe.each([
  { cache: 'without the session cache', authCacheTtlMs: 0 },
  { cache: 'with the session cache', authCacheTtlMs: 60_000 },
])('two instances, $cache', ({ authCacheTtlMs }) => {
  it.each(endings)('a session ended through $name on one is refused by the other', async ({ end }) => {
    const [one, two] = await instances(2, { authCacheTtlMs });
    if (!one || !two) throw new Error('no apps');
    const u = await registerAndLogin(one.api, 'twice');
    const login = await two.api.post('/auth/login', { username: u.username, password: u.password });
    const victim = login.body.access_token as string;
    // Both logins are in use on the second instance (and, with the cache, cached there).
    expect((await two.api.get('/users/me', { token: victim })).status).toBe(200);
    expect((await two.api.get('/users/me', { token: u.token })).status).toBe(200);

    expect((await end(one, u.token, victim)).status).toBe(204);
    // Without the cache every request asks the database: refused at once. With it, the
    // announcement reaches the other instance a moment after the commit (AUTH_CACHE_TTL_MS, README).
    expect(await refusedBy(two, victim, authCacheTtlMs > 0)).toBe(401);
    expect((await two.api.post('/auth/refresh', { refresh_token: login.body.refresh_token })).status).toBe(401);
  });
});
