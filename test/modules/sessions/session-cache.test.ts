import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionCache, type SessionCache } from '../../../src/modules/sessions/session-cache.js';
import type { User } from '../../../src/modules/users/schemas.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

const user = (id: number): User => ({
  id,
  username: `u${id}`,
  email: `u${id}@example.com`,
  email_verified: false,
  role: 'user',
  is_active: true,
  created_at: new Date(),
  updated_at: new Date(),
});
const quiet = { warn: () => {}, info: () => {} };

async function eventually(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

let db: TestDatabase;
let cache: SessionCache;
beforeAll(async () => {
  db = await createTestDatabase();
  cache = createSessionCache({ connectionString: db.url, ttlMs: 60_000, maxEntries: 100, log: quiet });
  await cache.start();
});
afterAll(async () => {
  await cache.close();
  await db.drop();
});

describe('the login cache', () => {
  it('serves what it was given, for the same user only', () => {
    cache.set('s1', user(1), cache.generation());
    expect(cache.get('s1', 1)?.id).toBe(1);
    expect(cache.get('s1', 2)).toBeUndefined();
  });

  it('does not keep a lookup that raced with an announced change', async () => {
    const since = cache.generation();
    await db.pool.query("SELECT pg_notify('task_api_auth', 'u:999')");
    await eventually(() => cache.generation() !== since);
    cache.set('s2', user(2), since);
    expect(cache.get('s2', 2)).toBeUndefined();
  });

  it('forgets a login and a user when the database announces a change', async () => {
    cache.set('s3', user(3), cache.generation());
    cache.set('s4', user(4), cache.generation());
    cache.set('s5', user(4), cache.generation());
    await db.pool.query("SELECT pg_notify('task_api_auth', 's:s3')");
    await db.pool.query("SELECT pg_notify('task_api_auth', 'u:4')");
    await eventually(() => cache.get('s3', 3) === undefined && cache.get('s4', 4) === undefined);
    expect(cache.get('s5', 4)).toBeUndefined();
  });

  it('serves nothing while its listening connection is down, and resumes once it is back', async () => {
    cache.set('s6', user(6), cache.generation());
    expect(cache.get('s6', 6)).toBeDefined();
    await db.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'task-api-auth-listener' AND datname = current_database()",
    );
    await eventually(() => cache.get('s6', 6) === undefined);
    // Whatever was cached before is gone for good: an announcement may have been missed meanwhile.
    await eventually(() => {
      cache.set('s7', user(7), cache.generation());
      return cache.get('s7', 7) !== undefined;
    });
    expect(cache.get('s6', 6)).toBeUndefined();
  });

  it('expires entries after the TTL', async () => {
    const short = createSessionCache({ connectionString: db.url, ttlMs: 50, maxEntries: 100, log: quiet });
    await short.start();
    try {
      short.set('s8', user(8), short.generation());
      expect(short.get('s8', 8)).toBeDefined();
      await sleep(80);
      expect(short.get('s8', 8)).toBeUndefined();
    } finally {
      await short.close();
    }
  });
});

describe('the login cache in the app (opt-in)', () => {
  it('is off by default, and when on, a change reaches another instance through the database', async () => {
    const { loadConfig } = await import('../../../src/config.js');
    expect(loadConfig({}).authCacheTtlMs).toBe(0);
    const { registerAndLogin, setupTestApp, startApp } = await import('../../helpers/app.js');
    const ctx = await setupTestApp({ authCacheTtlMs: 60_000 });
    const other = await startApp(ctx.config);
    try {
      const u = await registerAndLogin(ctx.api);
      expect((await other.api.get('/users/me', { token: u.token })).status).toBe(200); // now cached there
      expect((await ctx.api.post('/auth/logout', undefined, { token: u.token })).status).toBe(204);
      const deadline = Date.now() + 5_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status = (await other.api.get('/users/me', { token: u.token })).status;
        if (status === 200) await sleep(20);
      }
      expect(status).toBe(401);
    } finally {
      await other.close();
      await ctx.close();
    }
  });
});
