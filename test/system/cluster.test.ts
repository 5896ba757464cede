import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../helpers/db.js';
import { httpClient } from '../helpers/http.js';
import { startServerProcess } from '../helpers/process.js';

const secrets = () => ({
  JWT_SECRET: randomBytes(32).toString('base64url'),
  PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
});

/** A request on a fresh connection, so the cluster's balancer picks a worker each time. */
function getFresh(url: string): Promise<{ status: number; instance: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 3_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, instance: res.headers['x-instance'] as string | undefined }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('no answer in 3 s'));
      })
      .on('error', reject);
  });
}

const childPids = (pid: number) =>
  execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);

let db: { url: string; drop(): Promise<void> };
beforeAll(async () => {
  db = await createEmptyDatabase();
});
afterAll(() => db.drop());

describe('graceful shutdown', () => {
  it('SIGTERM lets the requests in flight finish, then exits 0', async () => {
    const server = await startServerProcess({ DATABASE_URL: db.url, BCRYPT_COST: '12', ...secrets() });
    const api = httpClient(`${server.baseUrl}/api/v1`);
    const user = {
      username: `slow_${randomBytes(3).toString('hex')}`,
      email: `s${randomBytes(3).toString('hex')}@example.com`,
      password: 'a-slow-password',
    };
    expect((await api.post('/auth/register', user)).status).toBe(201);
    // Logins at cost 12 take a while each: several are in flight when the signal arrives.
    const inFlight = Array.from({ length: 6 }, () =>
      api.post('/auth/login', { username: user.username, password: user.password }),
    );
    await sleep(50);
    const exit = server.stop('SIGTERM');
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await exit).toBe(0);
    expect(server.output()).toContain('shutting down');
  });
});

describe('WORKERS=2', () => {
  it('serves from both workers, replaces a dead one, aggregates metrics and stops cleanly', async () => {
    const server = await startServerProcess({
      DATABASE_URL: db.url,
      BCRYPT_COST: '4',
      WORKERS: '2',
      INSTANCE_NAME: 'node',
      ...secrets(),
    });
    try {
      // Both workers must be listening before the balancer can use them.
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++) {
        const res = await getFresh(`${server.baseUrl}/healthz`);
        expect(res.status).toBe(200);
        if (res.instance) seen.add(res.instance);
        if (seen.size < 2) await sleep(50);
      }
      expect([...seen].sort()).toEqual(['node-w1', 'node-w2']);

      // Metrics cover every worker: the count of /readyz requests is the total sent to the cluster.
      for (let i = 0; i < 10; i++) expect((await getFresh(`${server.baseUrl}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith('http_requests_total{method="GET",route="/readyz",status_code="200"}'));
      expect(Number(line?.split(' ').pop())).toBe(10);

      // A worker that dies is replaced.
      const workers = childPids(server.child.pid as number);
      expect(workers).toHaveLength(2);
      process.kill(workers[0] as number, 'SIGKILL');
      const replacement = new Set<string>();
      // A connection handed to the worker at the instant it dies may fail (a proxy retries those);
      // what matters is that a new worker takes over.
      for (let i = 0; i < 100 && !replacement.has('node-w3'); i++) {
        const res = await getFresh(`${server.baseUrl}/healthz`).catch(() => undefined);
        if (res?.status === 200 && res.instance) replacement.add(res.instance);
        await sleep(50);
      }
      expect(replacement.has('node-w3')).toBe(true);
      expect(server.output()).toContain('worker died; starting a replacement');
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
  });
});
