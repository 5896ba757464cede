/**
 * `node --import tsx bench/events.ts`: what task events cost and how fast they go out.
 *
 * 1. POST /tasks with events off and on (AMQP_URL set), alternating off/on runs on one scratch
 *    database so machine noise hits both alike; req/s per run and the median of each.
 * 2. Publish throughput: EVENTS rows left in the outbox, then one server started with events on;
 *    the time until the outbox is empty.
 *
 * Needs BENCH_DATABASE_URL (a server where a scratch database may be created) and a RabbitMQ at
 * BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672). Run `npm run build` first.
 * `--base-server path/to/dist/server.js` adds runs of another build (say, the commit before events)
 * with the same database, to check that events off costs nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { runMigrations } from '../src/db/migrate.js';
import { freePort } from '../src/lib/net.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '20' },
    events: { type: 'string', default: '20000' },
    /** Another build (dist/server.js of an earlier commit) to run alongside, with events off. */
    'base-server': { type: 'string' },
  },
});
const adminUrl = process.env.BENCH_DATABASE_URL;
if (!adminUrl) throw new Error('BENCH_DATABASE_URL is required');
const amqpUrl = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const exchange = `task-api-bench.${randomBytes(4).toString('hex')}`;

async function startServer(
  env: Record<string, string>,
  entry = path.join(ROOT, 'dist/server.js'),
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_ENABLED: 'false',
      BCRYPT_COST: '4',
      ...env,
      PORT: String(port),
    },
    stdio: 'inherit',
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child };
    } catch {}
    await sleep(100);
  }
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

const name = `task_api_bench_events_${randomBytes(3).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(adminUrl);
url.pathname = `/${name}`;
const databaseUrl = url.toString();
await runMigrations(databaseUrl);
const common = {
  DATABASE_URL: databaseUrl,
  JWT_SECRET: randomBytes(32).toString('hex'),
  PASSWORD_PEPPER: randomBytes(32).toString('hex'),
  AMQP_EXCHANGE: exchange,
};
const db = new pg.Client({ connectionString: databaseUrl });
await db.connect();

try {
  // A user and a token, through the API.
  const first = await startServer(common);
  await fetch(`${first.url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench', email: 'bench@example.com', password: 'bench-password-1' }),
  });
  const login = await fetch(`${first.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench', password: 'bench-password-1' }),
  });
  const token = ((await login.json()) as { access_token: string }).access_token;
  await stop(first.child);

  const results: Record<'base' | 'off' | 'on', number[]> = { base: [], off: [], on: [] };
  const modes = args['base-server'] ? (['base', 'off', 'on'] as const) : (['off', 'on'] as const);
  for (let run = 0; run < Number(args.runs); run++) {
    for (const mode of modes) {
      const server =
        mode === 'base'
          ? await startServer(common, path.resolve(args['base-server'] as string))
          : await startServer(mode === 'on' ? { ...common, AMQP_URL: amqpUrl } : common);
      const result = await autocannon({
        url: `${server.url}/api/v1/tasks`,
        method: 'POST',
        connections: Number(args.connections),
        duration: Number(args.duration),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Benchmark task', priority: 'high' }),
      });
      await stop(server.child);
      const non2xx = result.non2xx + result.errors;
      results[mode].push(Math.round(result.requests.average));
      console.log(
        `run ${run + 1} events ${mode}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms, failed ${non2xx}`,
      );
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = args['base-server'] ? `base build ${median(results.base)}, ` : '';
  console.log(`POST /tasks median req/s: ${base}events off ${median(results.off)}, on ${median(results.on)}`);

  // Publish throughput: a backlog, then one publisher.
  await db.query('DELETE FROM event_outbox_pending');
  const backlog = Number(args.events);
  await db.query(
    `WITH written AS (
       INSERT INTO event_outbox (event_id, type, aggregate_key, payload)
       SELECT gen_random_uuid(), 'task.updated', 'task:' || (i % 1000), json_build_object('id', i, 'type', 'task.updated')
       FROM generate_series(1, $1) AS i
       RETURNING id, aggregate_key
     )
     INSERT INTO event_outbox_pending (id, aggregate_key) SELECT id, aggregate_key FROM written`,
    [backlog],
  );
  const began = Date.now();
  const server = await startServer({ ...common, AMQP_URL: amqpUrl });
  for (;;) {
    const { rows } = await db.query('SELECT count(*)::int AS n FROM event_outbox_pending');
    if (rows[0].n === 0) break;
    await sleep(50);
  }
  const seconds = (Date.now() - began) / 1000;
  await stop(server.child);
  console.log(
    `publish: ${backlog} events in ${seconds.toFixed(1)} s (${Math.round(backlog / seconds)} events/s, including server start)`,
  );
} finally {
  await db.end();
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
