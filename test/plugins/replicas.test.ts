import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AppConfig, ConfigError, loadConfig } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import type { HttpClient, TaskBody } from '../helpers/http.js';
import { sharedRedis, startRedisServer } from '../helpers/redis.js';
import { type ReplicationPair, startReplicationPair } from '../helpers/replication.js';

describe('DATABASE_REPLICA_URLS configuration', () => {
  const primary = { DATABASE_URL: 'postgres://app:pw@primary:5432/task_api' };

  it('is off by default: no replicas', () => {
    expect(loadConfig(primary).replicas).toEqual({ urls: [], maxLagMs: 1000, checkIntervalMs: 250 });
  });

  it('takes a comma-separated list of postgres URLs, and the lag limit and check interval', () => {
    const config = loadConfig({
      ...primary,
      DATABASE_REPLICA_URLS: 'postgres://app:pw@r1:5432/task_api, postgresql://app:pw@r2/task_api',
      REPLICA_MAX_LAG_MS: '2500',
      REPLICA_CHECK_INTERVAL_MS: '100',
    });
    expect(config.replicas).toEqual({
      urls: ['postgres://app:pw@r1:5432/task_api', 'postgresql://app:pw@r2/task_api'],
      maxLagMs: 2500,
      checkIntervalMs: 100,
    });
  });

  it('refuses a bad entry in one line that names the entry and never shows its password', () => {
    const load =
      (value: string, env: Record<string, string> = primary) =>
      () =>
        loadConfig({ ...env, DATABASE_REPLICA_URLS: value });
    expect(load('postgres://a:s3cret@r1/db,mysql://a:s3cret@r2/db')).toThrow(
      new ConfigError('DATABASE_REPLICA_URLS (entry 2) must be a postgres:// or postgresql:// URL (got scheme "mysql:")'),
    );
    expect(load('not a url s3cret')).toThrow(new ConfigError('DATABASE_REPLICA_URLS must be a postgres:// or postgresql:// URL'));
    expect(load('postgres://r1/db,,postgres://r2/db')).toThrow(new ConfigError('DATABASE_REPLICA_URLS: entry 2 is empty'));
    expect(load('postgres://r1/db', {})).toThrow(
      new ConfigError('DATABASE_REPLICA_URLS needs DATABASE_URL (the primary they replicate)'),
    );
    expect(() => loadConfig({ ...primary, REPLICA_MAX_LAG_MS: 'soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...primary, REPLICA_CHECK_INTERVAL_MS: '0' })).toThrow(ConfigError);
  });
});

let pair: ReplicationPair;
beforeAll(async () => {
  pair = await startReplicationPair((url) => runMigrations(url));
}, 180_000);
afterAll(() => pair?.destroy());

const started: TestApp[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((a) => a.close()));
});

async function start(replicas: Partial<AppConfig['replicas']>, overrides: Partial<AppConfig> = {}): Promise<TestApp> {
  const app = await startApp(
    testConfig(pair.primaryUrl, {
      replicas: { urls: [pair.replicaUrl], maxLagMs: 60_000, checkIntervalMs: 50, ...replicas },
      ...overrides,
    }),
  );
  started.push(app);
  return app;
}

/** The value of one series of /metrics (0 when absent). */
async function metric(app: TestApp, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

const replicaReads = (app: TestApp) => metric(app, 'db_reads_total', { target: 'replica' });

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function readyz(app: TestApp) {
  const res = await fetch(`${app.baseUrl}/readyz`);
  return {
    status: res.status,
    body: (await res.json()) as {
      status: string;
      replicas?: { healthy: number; total: number; members: Record<string, string> };
    },
  };
}

/** A user made admin behind the API's back (on the primary, which the session check reads). */
async function admin(api: HttpClient) {
  const user = await registerAndLogin(api, 'admin');
  await pair.primary.query("UPDATE users SET role = 'admin' WHERE id = $1", [user.id]);
  return user;
}

const titles = (tasks: TaskBody[]) => tasks.map((t) => t.title).sort();

describe('without replicas', () => {
  it('adds nothing: no replica report, no routing metrics', async () => {
    const app = await start({ urls: [] });
    const user = await registerAndLogin(app.api);
    expect((await app.api.post('/tasks', { title: 'plain' }, { token: user.token })).status).toBe(201);
    expect((await app.api.get('/tasks', { token: user.token })).body).toHaveLength(1);
    const ready = await readyz(app);
    expect(ready).toEqual({ status: 200, body: { status: 'ok', checks: expect.any(Object) } });
    const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
    expect(text).not.toMatch(/db_reads_total|db_replica_/);
  });
});

describe('routing', () => {
  it('sends lag-tolerant reads to the replica, and a writer’s own reads to the primary until the replica has replayed them', async () => {
    const app = await start({ maxLagMs: 60_000 });
    const { api } = app;
    const writer = await registerAndLogin(api, 'writer');
    const reader = await admin(api);
    const first = (await api.post('/tasks', { title: 'first' }, { token: writer.token })).body as TaskBody;
    await pair.waitForCatchUp();

    // Caught up: everyone reads from the replica, the writer too.
    const before = await replicaReads(app);
    expect(titles((await api.get(`/tasks?user_id=${writer.id}`, { token: reader.token })).body)).toEqual(['first']);
    await waitFor('the writer to read from the replica once it has replayed the write', async () => {
      const fromReplica = await replicaReads(app);
      expect((await api.get(`/tasks/${first.id}`, { token: writer.token })).status).toBe(200);
      return (await replicaReads(app)) > fromReplica;
    });
    expect(await replicaReads(app)).toBeGreaterThan(before);

    // Replay paused: the replica is frozen in the past, consistently.
    await pair.pauseReplay();
    try {
      const second = (await api.post('/tasks', { title: 'second' }, { token: writer.token })).body as TaskBody;
      expect((await api.patch(`/tasks/${first.id}`, { title: 'first, renamed' }, { token: writer.token })).status).toBe(200);

      // The writer sees its writes at once: its reads went to the primary.
      const ownBefore = await metric(app, 'db_reads_total', { target: 'primary', reason: 'own_write_not_replayed' });
      expect(titles((await api.get('/tasks', { token: writer.token })).body)).toEqual(['first, renamed', 'second']);
      expect((await api.get(`/tasks/${second.id}`, { token: writer.token })).status).toBe(200);
      expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'own_write_not_replayed' })).toBe(ownBefore + 2);

      // Another reader sees the replica's past, which only the replica can show.
      const replicaBefore = await replicaReads(app);
      expect(titles((await api.get(`/tasks?user_id=${writer.id}`, { token: reader.token })).body)).toEqual(['first']);
      expect((await api.get(`/tasks/${second.id}`, { token: reader.token })).status).toBe(404);
      const count = async (pool: typeof pair.primary) => (await pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n;
      const stats = await api.get('/tasks/admin/stats', { token: reader.token });
      expect(stats.body.total_tasks).toBe(await count(pair.replica));
      expect(stats.body.total_tasks).toBe((await count(pair.primary)) - 1);
      expect(await replicaReads(app)).toBe(replicaBefore + 3);

      // Once the reader writes, its own reads go to the primary too (an admin's change to a user).
      const other = await registerAndLogin(api, 'other');
      expect((await api.patch(`/users/${other.id}`, { is_active: false }, { token: reader.token })).status).toBe(200);
      expect((await api.get(`/users/${other.id}`, { token: reader.token })).body.is_active).toBe(false);
      expect(titles((await api.get(`/tasks?user_id=${writer.id}`, { token: reader.token })).body)).toEqual([
        'first, renamed',
        'second',
      ]);
      const listed = await api.get(`/users?q=${other.username}`, { token: reader.token });
      expect(listed.body.map((u: { is_active: boolean }) => u.is_active)).toEqual([false]);
    } finally {
      await pair.resumeReplay();
    }

    // Replay resumed: a reader without writes of its own sees the present once the replica has it.
    const fresh = await admin(api);
    await waitFor('the replica to show the writes', async () => {
      const res = await api.get(`/tasks?user_id=${writer.id}`, { token: fresh.token });
      return titles(res.body).join() === 'first, renamed,second';
    });
  });

  it('keeps the session check on the primary: a logout or a deactivation takes effect at once, whatever the replica shows', async () => {
    const app = await start({ maxLagMs: 60_000 });
    const { api } = app;
    const boss = await admin(api);
    const leaving = await registerAndLogin(api, 'leaving');
    const deactivated = await registerAndLogin(api, 'deactivated');
    await pair.waitForCatchUp();
    await pair.pauseReplay();
    try {
      expect((await api.post('/auth/logout', undefined, { token: leaving.token })).status).toBe(204);
      expect((await api.get('/tasks', { token: leaving.token })).status).toBe(401);
      expect((await api.patch(`/users/${deactivated.id}`, { is_active: false }, { token: boss.token })).status).toBe(200);
      expect((await api.get('/tasks', { token: deactivated.token })).status).toBe(401);
      expect((await api.get('/users/me', { token: deactivated.token })).status).toBe(401);
      // The replica still believes both logins valid: had the check read it, both would have passed.
      const { rows } = await pair.replica.query(
        'SELECT count(*)::int AS n FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.user_id = ANY($1) AND s.revoked_at IS NULL AND u.is_active',
        [[leaving.id, deactivated.id]],
      );
      expect(rows[0].n).toBe(2);
    } finally {
      await pair.resumeReplay();
    }
  });

  it('a member removed from a project reads none of its tasks on their next request, whatever the replica shows', async () => {
    const app = await start({ maxLagMs: 60_000 });
    const { api } = app;
    const owner = await registerAndLogin(api, 'powner');
    const member = await registerAndLogin(api, 'pmember');
    const project = (await api.post('/projects', { name: 'shared' }, { token: owner.token })).body.id;
    await api.post(`/projects/${project}/members`, { username: member.username, role: 'viewer' }, { token: owner.token });
    const task = (await api.post('/tasks', { title: 'secret plan', project_id: project }, { token: owner.token }))
      .body as TaskBody;
    await pair.waitForCatchUp();
    // The member reads from the replica, and sees the project's task there.
    await waitFor('the member to read from the replica', async () => {
      const fromReplica = await replicaReads(app);
      expect((await api.get(`/tasks/${task.id}`, { token: member.token })).status).toBe(200);
      return (await replicaReads(app)) > fromReplica;
    });
    await pair.pauseReplay();
    try {
      expect((await api.delete(`/projects/${project}/members/${member.id}`, { token: owner.token })).status).toBe(204);
      // The replica still has the membership: had the member's reads gone there, they would see the task.
      const { rows } = await pair.replica.query('SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2', [
        project,
        member.id,
      ]);
      expect(rows).toHaveLength(1);
      expect((await api.get(`/tasks/${task.id}`, { token: member.token })).status).toBe(404);
      expect((await api.get('/tasks', { token: member.token })).body).toEqual([]);
    } finally {
      await pair.resumeReplay();
    }
  });
});

describe.each([
  { name: 'one instance, marks in memory', instances: 1, redis: false },
  { name: 'two instances sharing marks through Redis', instances: 2, redis: true },
])('read-your-writes under load: $name', ({ instances, redis: useRedis }) => {
  it('no writer ever reads a state older than its own last write, while the replica applies commits late', async () => {
    const redis = useRedis ? await sharedRedis() : undefined;
    // Every commit reaches the replica's data 300 ms late: a read right after a write would be stale there.
    await pair.replica.query("ALTER SYSTEM SET recovery_min_apply_delay = '300ms'");
    await pair.replica.query('SELECT pg_reload_conf()');
    try {
      // The instances of one deployment: one Redis prefix, one set of secrets.
      const shared = {
        redisUrl: redis?.url,
        redisKeyPrefix: `task-api-test:ryw-${randomBytes(4).toString('hex')}:`,
        jwtSecret: randomBytes(32).toString('base64url'),
        passwordPepper: randomBytes(32).toString('base64url'),
      };
      const apps: TestApp[] = [];
      for (let i = 0; i < instances; i++) apps.push(await start({ maxLagMs: 10_000, checkIntervalMs: 50 }, shared));
      const at = (i: number) => (apps[i % apps.length] as TestApp).api;
      const users = await Promise.all(Array.from({ length: 12 }, () => registerAndLogin(at(0), 'ryw')));
      const tasks = await Promise.all(
        users.map(async (u) => (await at(0).post('/tasks', { title: 'v0' }, { token: u.token })).body as TaskBody),
      );
      const totals = async (labels: Record<string, string>) =>
        (await Promise.all(apps.map((a) => metric(a, 'db_reads_total', labels)))).reduce((x, y) => x + y, 0);
      const replicaBefore = await totals({ target: 'replica' });
      const ownBefore = await totals({ reason: 'own_write_not_replayed' });

      const stale: string[] = [];
      let reads = 0;
      await Promise.all(
        users.map(async (user, u) => {
          const task = tasks[u] as TaskBody;
          for (let round = 1; round <= 8; round++) {
            const title = `v${round}`;
            // The write on one instance, the reads on the other.
            const written = await at(u + round).patch(`/tasks/${task.id}`, { title }, { token: user.token });
            expect(written.status).toBe(200);
            const check = async (when: string) => {
              const one = await at(u + round + 1).get(`/tasks/${task.id}`, { token: user.token });
              const list = await at(u + round + 1).get('/tasks', { token: user.token });
              reads += 2;
              expect(one.status).toBe(200);
              expect(list.status).toBe(200);
              if (one.body.title !== title) stale.push(`${user.username} ${when}: task ${one.body.title}, expected ${title}`);
              if (list.body[0]?.title !== title)
                stale.push(`${user.username} ${when}: list ${list.body[0]?.title}, expected ${title}`);
            };
            await check('at once');
            await sleep(Math.random() * 700);
            await check('later');
          }
        }),
      );
      expect(stale).toEqual([]);
      expect(reads).toBe(12 * 8 * 4);
      // Both paths were taken: reads right after a write on the primary, later ones on the replica.
      expect(await totals({ reason: 'own_write_not_replayed' })).toBeGreaterThan(ownBefore);
      expect(await totals({ target: 'replica' })).toBeGreaterThan(replicaBefore);
    } finally {
      await pair.replica.query('ALTER SYSTEM RESET recovery_min_apply_delay');
      await pair.replica.query('SELECT pg_reload_conf()');
      await redis?.stop();
    }
  }, 180_000);
});

describe('write marks in Redis', () => {
  it('sends reads to the primary, never to a stale replica, while Redis is unreachable', async () => {
    const redis = await startRedisServer();
    let redisStopped = false;
    try {
      // Two instances of one deployment: the write on one, the reads on the other, which can only
      // learn of the write through Redis.
      const shared = {
        redisUrl: redis.url,
        redisKeyPrefix: `task-api-test:marks-${randomBytes(4).toString('hex')}:`,
        jwtSecret: randomBytes(32).toString('base64url'),
        passwordPepper: randomBytes(32).toString('base64url'),
      };
      const one = await start({ maxLagMs: 60_000 }, shared);
      const other = await start({ maxLagMs: 60_000 }, shared);
      const writer = await registerAndLogin(one.api, 'writer');
      await pair.waitForCatchUp();
      await pair.pauseReplay();
      try {
        expect((await one.api.post('/tasks', { title: 'behind the replica' }, { token: writer.token })).status).toBe(201);
        // With Redis up, the other instance knows the mark.
        expect(titles((await other.api.get('/tasks', { token: writer.token })).body)).toEqual(['behind the replica']);

        await redis.stop();
        redisStopped = true;
        const before = await metric(other, 'db_reads_total', { target: 'replica' });
        for (let i = 0; i < 3; i++) {
          const res = await other.api.get('/tasks', { token: writer.token });
          expect(res.status).toBe(200);
          expect(titles(res.body)).toEqual(['behind the replica']);
        }
        expect(await metric(other, 'db_reads_total', { target: 'replica' })).toBe(before);
        // The replica is still healthy; only the marks are unknown.
        expect((await readyz(other)).body.replicas?.healthy).toBe(1);
      } finally {
        await pair.resumeReplay();
      }
    } finally {
      // Stopping it twice would wait for an exit that has already happened.
      if (!redisStopped) await redis.stop();
    }
  });
});

describe('replica health', () => {
  it('skips a replica lagging past REPLICA_MAX_LAG_MS and sends reads back to it once it catches up', async () => {
    const app = await start({ maxLagMs: 300, checkIntervalMs: 50 });
    const { api } = app;
    const writer = await registerAndLogin(api, 'writer');
    const reader = await admin(api);
    await pair.waitForCatchUp();
    const healthy = () => metric(app, 'db_replica_healthy', { replica: 'replica-1' });
    await waitFor('the replica to be healthy', async () => (await healthy()) === 1);

    await pair.pauseReplay();
    try {
      expect((await api.post('/tasks', { title: 'while lagging' }, { token: writer.token })).status).toBe(201);
      await waitFor('the replica to be skipped', async () => (await healthy()) === 0);
      expect(await metric(app, 'db_replica_lag_seconds', { replica: 'replica-1' })).toBeGreaterThan(0.3);
      expect(await metric(app, 'db_replica_lag_bytes', { replica: 'replica-1' })).toBeGreaterThan(0);
      // Ready all the same: the primary serves the reads.
      expect(await readyz(app)).toEqual({
        status: 200,
        body: {
          status: 'ok',
          checks: expect.any(Object),
          replicas: { healthy: 0, total: 1, members: { 'replica-1': 'lagging' } },
        },
      });
      const skipped = await metric(app, 'db_reads_total', { target: 'primary', reason: 'no_healthy_replica' });
      expect(titles((await api.get(`/tasks?user_id=${writer.id}`, { token: reader.token })).body)).toEqual(['while lagging']);
      expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'no_healthy_replica' })).toBe(skipped + 1);
    } finally {
      await pair.resumeReplay();
    }

    await waitFor('the replica to serve reads again', async () => (await healthy()) === 1);
    expect((await readyz(app)).body.replicas).toEqual({ healthy: 1, total: 1, members: { 'replica-1': 'ok' } });
    const before = await replicaReads(app);
    expect(titles((await api.get(`/tasks?user_id=${writer.id}`, { token: reader.token })).body)).toEqual(['while lagging']);
    expect(await replicaReads(app)).toBe(before + 1);
    expect(await metric(app, 'db_replica_pool_connections', { replica: 'replica-1', state: 'total' })).toBeGreaterThan(0);
  });

  it('survives the replica stopping: reads go to the primary with no error, and return to the replica when it is back', async () => {
    const app = await start({ maxLagMs: 5_000, checkIntervalMs: 100 });
    const { api } = app;
    const reader = await admin(api);
    const healthy = () => metric(app, 'db_replica_healthy', { replica: 'replica-1' });
    await waitFor('the replica to be healthy', async () => (await healthy()) === 1);

    // Readers keep reading throughout; not one request may fail.
    let reading = true;
    const failures: string[] = [];
    let answered = 0;
    const readers = Array.from({ length: 4 }, async () => {
      while (reading) {
        const res = await api.get('/tasks?limit=5', { token: reader.token });
        answered += 1;
        if (res.status !== 200) failures.push(`${res.status} ${res.text}`);
      }
    });
    try {
      await waitFor('reads on the replica', async () => (await replicaReads(app)) > 0);
      await pair.stopReplica();
      await waitFor('the replica to be reported down', async () => (await healthy()) === 0);
      const ready = await readyz(app);
      expect(ready.status).toBe(200);
      expect(ready.body.replicas).toEqual({ healthy: 0, total: 1, members: { 'replica-1': 'down' } });
      const whileDown = await replicaReads(app);
      const answeredWhileDown = answered;
      await waitFor('reads answered while it is down', async () => answered > answeredWhileDown + 20);
      expect(await replicaReads(app)).toBe(whileDown);

      await pair.startReplica();
      await waitFor('the replica to be healthy again', async () => (await healthy()) === 1);
      await waitFor('reads on the replica again', async () => (await replicaReads(app)) > whileDown);
    } finally {
      reading = false;
      await Promise.all(readers);
      await pair.startReplica().catch(() => {});
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('retries on the primary a read that cannot reach the replica, and skips the replica at once', async () => {
    // Checks far apart: only the failed read can tell that the replica is gone.
    const app = await start({ maxLagMs: 5_000, checkIntervalMs: 60_000 });
    const { api } = app;
    const reader = await admin(api);
    await pair.waitForCatchUp();
    const before = await replicaReads(app);
    expect((await api.get('/tasks', { token: reader.token })).status).toBe(200);
    expect(await replicaReads(app)).toBe(before + 1);

    await pair.stopReplica();
    try {
      expect((await api.get('/tasks', { token: reader.token })).status).toBe(200);
      expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'replica_failed' })).toBe(1);
      expect((await readyz(app)).body.replicas?.members).toEqual({ 'replica-1': 'down' });
      expect((await api.get('/tasks', { token: reader.token })).status).toBe(200);
      expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'no_healthy_replica' })).toBe(1);
      expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'replica_failed' })).toBe(1);
    } finally {
      await pair.startReplica();
    }
  });

  // Last: a promoted replica stays promoted.
  it('skips a promoted replica, whose pool refuses writes all the same', async () => {
    const app = await start({ maxLagMs: 5_000, checkIntervalMs: 50 });
    const { api } = app;
    const reader = await admin(api);
    const healthy = () => metric(app, 'db_replica_healthy', { replica: 'replica-1' });
    await waitFor('the replica to be healthy', async () => (await healthy()) === 1);

    await pair.promoteReplica();
    await waitFor('the promoted replica to be skipped', async () => (await healthy()) === 0);
    expect((await readyz(app)).body.replicas).toEqual({ healthy: 0, total: 1, members: { 'replica-1': 'not_in_recovery' } });
    const before = await metric(app, 'db_reads_total', { target: 'primary', reason: 'no_healthy_replica' });
    expect((await api.get('/tasks', { token: reader.token })).status).toBe(200);
    expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'no_healthy_replica' })).toBe(before + 1);

    // The server now accepts writes, but not from a replica pool's sessions.
    await pair.replica.query('CREATE TABLE promoted_probe (n int)');
    const replicaPool = createPool(pair.replicaUrl, { max: 1, readOnly: true });
    try {
      await expect(replicaPool.query('INSERT INTO promoted_probe VALUES (1)')).rejects.toMatchObject({ code: '25006' });
    } finally {
      await replicaPool.end();
    }
  });
});
