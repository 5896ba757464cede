/**
 * The cost of read replicas on writes: the same server (`node dist/server.js`, one worker) on a
 * private primary with a streaming replica, measured without DATABASE_REPLICA_URLS, with it (write
 * marks in memory), and with it and REDIS_URL (marks in Redis). Each write then also reads the
 * primary's WAL position (shared by writes finishing together) and stores the writer's mark.
 *
 *   npm run build && node --import tsx bench/replicas.ts [--seconds 10] [--connections 20] [--rounds 2]
 *
 * Needs the PostgreSQL server binaries (initdb, pg_basebackup) and, for the Redis row, REDIS_URL or
 * a Redis on 127.0.0.1:6379. Figures on a shared machine drift: rows are run alternately, `--rounds` times.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runMigrations } from '../src/db/migrate.js';
import { parseLsn } from '../src/db/replica-monitor.js';
import { createWriteMarks } from '../src/db/write-marks.js';
import { freePort } from '../src/lib/net.js';
import { startReplicationPair } from '../test/helpers/replication.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function login(base: string): Promise<string> {
  const user = {
    username: `bench_${randomBytes(4).toString('hex')}`,
    email: `${randomBytes(4).toString('hex')}@example.com`,
    password: 'bench-password-1',
  };
  const post = (path: string, body: unknown) =>
    fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  await post('/auth/register', user);
  const res = await post('/auth/login', { username: user.username, password: user.password });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function load(base: string, token: string, request: autocannon.Request) {
  const result = await autocannon({
    url: base,
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    requests: [request],
  });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: result.latency.mean,
    errors: result.errors + result.non2xx,
  };
}

/** The built server, quiet (LOG_LEVEL=warn), ready once /healthz answers. */
async function startServer(env: Record<string, string>): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['dist/server.js'], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (
      await fetch(`${baseUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (i > 300 || child.exitCode !== null) throw new Error('the server did not start');
    await sleep(100);
  }
  return {
    baseUrl,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Median and p99 in microseconds of `n` sequential runs of `step`. */
async function timed(n: number, step: () => Promise<unknown>): Promise<string> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await step();
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => Math.round(times[Math.floor(q * (times.length - 1))] as number);
  return `median ${at(0.5)} µs, p99 ${at(0.99)} µs`;
}

/** The mark step alone, as a write pays it: the WAL position query, then recording the mark. */
async function markCost(primaryUrl: string) {
  const pool = new pg.Pool({ connectionString: primaryUrl, max: 1 });
  const quiet = { warn: () => {}, info: () => {} };
  const redis = new Redis(redisUrl, { lazyConnect: true, enableOfflineQueue: false });
  await redis.connect();
  const memory = createWriteMarks({ ttlMs: 5_000, keyPrefix: 'bench:', log: quiet });
  const shared = createWriteMarks({ ttlMs: 5_000, redis, keyPrefix: `bench-${randomBytes(3).toString('hex')}:`, log: quiet });
  const position = async () => parseLsn((await pool.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn);
  const n = 2_000;
  try {
    const lines = [
      `SELECT 1 (a round trip, for scale):        ${await timed(n, () => pool.query('SELECT 1'))}`,
      `WAL position query:                        ${await timed(n, position)}`,
      `position + mark in memory:                 ${await timed(n, async () => memory.record(1, await position()))}`,
      `position + mark in Redis (keep-max script): ${await timed(n, async () => shared.record(1, await position()))}`,
      `reading a mark from Redis (each routed read): ${await timed(n, () => shared.get(1))}`,
    ];
    return lines;
  } finally {
    memory.close();
    shared.close();
    redis.disconnect();
    await pool.end();
  }
}

async function main() {
  const pair = await startReplicationPair((url) => runMigrations(url));
  const micro = await markCost(pair.primaryUrl);
  const common = {
    DATABASE_URL: pair.primaryUrl,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_ENABLED: 'false',
    BCRYPT_COST: '4',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
  };
  const variants: Array<[string, Record<string, string>]> = [
    ['no replicas', {}],
    ['replica, marks in memory', { DATABASE_REPLICA_URLS: pair.replicaUrl }],
    [
      'replica, marks in Redis',
      {
        DATABASE_REPLICA_URLS: pair.replicaUrl,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: `bench-${randomBytes(3).toString('hex')}:`,
      },
    ],
  ];
  const rows: string[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, env] of variants) {
        const server = await startServer({ ...common, ...env });
        try {
          const token = await login(server.baseUrl);
          const post = await load(server.baseUrl, token, {
            method: 'POST',
            path: '/api/v1/tasks',
            body: JSON.stringify({ title: 'bench' }),
          });
          const get = await load(server.baseUrl, token, { method: 'GET', path: '/api/v1/tasks' });
          for (const [what, r] of [
            ['POST /tasks', post],
            ['GET /tasks', get],
          ] as const) {
            rows.push(`| ${round} | ${name} | ${what} | ${r.rps} | ${r.mean.toFixed(2)} | ${r.p50} | ${r.p99} | ${r.errors} |`);
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await pair.destroy();
  }
  console.log(`\nPer write, sequential, 2,000 times:\n${micro.map((l) => `  ${l}`).join('\n')}`);
  console.log(`\n${connections} connections, ${seconds} s each\n`);
  console.log('| round | configuration | request | req/s | mean ms | p50 ms | p99 ms | errors |');
  console.log('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
