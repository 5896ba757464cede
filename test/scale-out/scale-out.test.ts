import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { httpClient } from '../helpers/http.js';
import { sharedRedis } from '../helpers/redis.js';
import { type Cluster, instanceOf, runLoad, sendUntilServedBy, startCluster } from './cluster.js';

/**
 * Two task-api processes on one PostgreSQL and one Redis behind a real nginx configured from
 * deploy/nginx.conf: they must behave as one service.
 */

const RATE_LIMIT_MAX = 20;
const ADMIN = { username: 'scaleadmin', email: 'scaleadmin@example.com', password: 'scale-admin-password' };

let db: TestDatabase;
let redis: { url: string; stop(): Promise<void> };
const clusters: Cluster[] = [];

beforeAll(async () => {
  [db, redis] = await Promise.all([createTestDatabase(), sharedRedis()]);
});
afterAll(async () => {
  for (const cluster of clusters) await cluster.stop();
  await db?.drop();
  await redis?.stop();
});

describe('two instances behind nginx', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
      RATE_LIMIT_WINDOW_MS: '600000',
      FIRST_ADMIN_USERNAME: ADMIN.username,
      FIRST_ADMIN_EMAIL: ADMIN.email,
      FIRST_ADMIN_PASSWORD: ADMIN.password,
    });
    clusters.push(cluster);
  });

  const other = (name: string) => {
    const found = cluster.instances.find((i) => i.name !== name);
    if (!found) throw new Error(`no instance other than ${name}`);
    return found;
  };

  it('serves requests from both instances, each naming itself', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 10; i++) {
      const res = await httpClient(cluster.nginx.baseUrl).get('/healthz');
      expect(res.status).toBe(200);
      seen.set(instanceOf(res), (seen.get(instanceOf(res)) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['a', 'b']);
  });

  it('passes the request id on, or one nginx generated', async () => {
    const res = await httpClient(cluster.nginx.baseUrl).get('/healthz', { headers: { 'x-request-id': 'scale-out-probe-1' } });
    expect(res.headers.get('x-request-id')).toBe('scale-out-probe-1');
    // Without one, nginx generates an id (32 hex digits) and the app keeps it.
    const generated = await httpClient(cluster.nginx.baseUrl).get('/healthz');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a token logged out through one instance on the other at once', async () => {
    const user = await registerAndLogin(cluster.api, 'logout');
    // The token works on both instances first.
    for (const instance of cluster.instances)
      expect((await instance.api.get('/users/me', { token: user.token })).status).toBe(200);

    const logout = await cluster.api.post('/auth/logout', undefined, { token: user.token });
    expect(logout.status).toBe(204);
    const elsewhere = other(instanceOf(logout));
    // Straight to the other instance, and through nginx until nginx picks the other instance.
    expect((await elsewhere.api.get('/users/me', { token: user.token })).status).toBe(401);
    const viaNginx = await sendUntilServedBy(elsewhere.name, () => cluster.api.get('/users/me', { token: user.token }));
    expect(viaNginx.map((r) => r.status)).toEqual(viaNginx.map(() => 401));
  });

  it('refuses a user deactivated through one instance on the other, on the next request', async () => {
    const admin = await cluster.api.post('/auth/login', { username: ADMIN.username, password: ADMIN.password });
    expect(admin.status).toBe(200);
    const user = await registerAndLogin(cluster.api, 'deact');
    for (const instance of cluster.instances)
      expect((await instance.api.get('/users/me', { token: user.token })).status).toBe(200);

    const patch = await cluster.api.patch(`/users/${user.id}`, { is_active: false }, { token: admin.body.access_token });
    expect(patch.status).toBe(200);
    expect(patch.body.is_active).toBe(false);
    const elsewhere = other(instanceOf(patch));
    expect((await elsewhere.api.get('/users/me', { token: user.token })).status).toBe(401);
    const viaNginx = await sendUntilServedBy(elsewhere.name, () => cluster.api.get('/users/me', { token: user.token }));
    expect(viaNginx.map((r) => r.status)).toEqual(viaNginx.map(() => 401));
  });

  it('shares one rate-limit budget between the instances instead of doubling it', async () => {
    const user = await registerAndLogin(cluster.api, 'budget');
    const statuses = new Map<number, number>();
    const servedBy = new Set<string>();
    for (let i = 0; i < RATE_LIMIT_MAX * 2; i++) {
      const res = await cluster.api.get('/users/me', { token: user.token });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) servedBy.add(instanceOf(res));
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: RATE_LIMIT_MAX, 429: RATE_LIMIT_MAX });
    // The budget was spent on both instances, not on one.
    expect([...servedBy].sort()).toEqual(['a', 'b']);
  });
});

describe('SIGTERM to one instance under load through nginx', () => {
  it('costs no request, the instance exits 0, and every acknowledged task is stored', async () => {
    const cluster = await startCluster({ DATABASE_URL: db.url, REDIS_URL: redis.url, RATE_LIMIT_ENABLED: 'false' });
    clusters.push(cluster);
    const user = await registerAndLogin(cluster.api, 'load');
    const [stopped, survivor] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];

    // Warm both instances up (connections, compiled code), so both serve at full speed when the signal comes.
    await runLoad({ baseUrl: cluster.nginx.baseUrl, token: user.token, ratePerSecond: 100, durationMs: 1_500 });

    let exit: Promise<number | string> | undefined;
    let signalledAt = 0;
    const ratePerSecond = 300;
    const results = await runLoad({
      baseUrl: cluster.nginx.baseUrl,
      token: user.token,
      ratePerSecond,
      durationMs: 6_000,
      at: {
        ms: 2_000,
        run: () => {
          signalledAt = 2_000;
          exit = stopped.stop('SIGTERM');
        },
      },
    });
    const exitCode = await exit;

    const failures = results.filter((r) => r.status < 200 || r.status > 299);
    const created = results.filter((r) => r.status === 201).map((r) => JSON.parse(r.body ?? '{}').id as number);
    const split = (name: string) => results.filter((r) => r.instance === name).length;
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1::bigint[]) AND user_id = $2',
      [created, user.id],
    );
    const figures = {
      sent: results.length,
      ratePerSecond,
      lastAnswerMs: Math.max(...results.map((r) => r.at)),
      [stopped.name]: split(stopped.name),
      [`${stopped.name}AfterSignal`]: results.filter((r) => r.instance === stopped.name && r.at >= signalledAt).length,
      [survivor.name]: split(survivor.name),
      failures: failures.length,
      created: created.length,
      stored: rows[0]?.n,
      exitCode,
    };
    console.log('scale-out load:', JSON.stringify(figures));
    if (failures.length > 0) console.log('nginx error log:\n', await cluster.nginx.errorLog());

    expect(failures.slice(0, 5)).toEqual([]);
    expect(exitCode).toBe(0);
    // Both served, and the survivor kept serving after the other stopped.
    expect(split(stopped.name)).toBeGreaterThan(0);
    expect(results.some((r) => r.instance === survivor.name && r.at > signalledAt + 1_000)).toBe(true);
    expect(new Set(created).size).toBe(created.length);
    expect(created.length).toBe(results.filter((r) => r.method === 'POST').length);
    expect(rows[0]?.n).toBe(created.length);
  });
});
