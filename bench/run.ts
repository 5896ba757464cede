/**
 * `npm run bench`: task-api against a bare baseline, in one run, on one machine.
 *
 *   npm run bench                      every scenario, 10 s each, 1,000 users × 100 tasks
 *   npm run bench -- --quick           2 s each (CI runs this to keep the harness working)
 *   npm run bench -- --tasks 1000000   also the scale check: 100,000 tasks, then 1,000,000
 *                                      (an admin's page 1, page 5,000 by offset and by cursor, and q search, at each size)
 *   npm run bench -- --only writes --rounds 3   only POST and PUT, events off and on, three pairs each
 *   npm run bench -- --only stream     1,000 concurrent GET /stream (--streams N): memory, idle CPU, write-to-arrival latency
 *   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" npm run bench   profiles the servers under test
 *
 * PostgreSQL: BENCH_DATABASE_URL (a server where a scratch database may be created) or an embedded
 * one. On Linux with taskset, the servers under test run on CPU 0; this process (autocannon) and an
 * embedded PostgreSQL on CPU 1. Results: a table on the terminal and JSON under bench/results/.
 * POST and PUT also run against a second server with events on (AMQP_URL: BENCH_AMQP_URL, or a
 * local RabbitMQ; a scratch exchange, deleted afterwards), reported as a ratio to events off.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import autocannon from 'autocannon';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';
import { createCursors } from '../src/lib/cursor.js';
import { freePort } from '../src/lib/net.js';
import { createPasswordHasher } from '../src/modules/users/passwords.js';
import { timeMigrations } from './migrations.js';
import { seed, shareProjects } from './seed.js';
import { benchStreams, type StreamBenchResult } from './stream.js';

/**
 * Node flags for the servers under test (not the baseline's, nor start-up's), space-separated:
 * BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof' profiles them (Node refuses --cpu-prof in NODE_OPTIONS).
 */
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = path.join(ROOT, 'dist/server.js');
const BASELINE = path.join(ROOT, 'bench/baseline.ts');
const PASSWORD = 'bench-password-1';
/** The migrations timed are the ones after this (those of the task-model issue). */
const MIGRATIONS_AFTER = '0013_event_outbox_pending';
/** The events-on server publishes to a scratch exchange on this broker (unreachable: events wait in the outbox). */
const amqpUrl = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const exchange = `task-api-bench.${randomBytes(4).toString('hex')}`;
/** The events-on server serves /metrics with it (production mode serves none without one). */
const METRICS_TOKEN = randomBytes(24).toString('base64url');

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tasks: { type: 'string', default: '100000' },
    users: { type: 'string', default: '1000' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '50' },
    'bcrypt-cost': { type: 'string', default: '10' },
    /**
     * Scenario groups to run, comma-separated: reads (and the baseline), writes, stats, login, startup,
     * migrations (the task model's migrations timed on a database of --tasks tasks: by default only with
     * the scale check, --tasks above 100,000).
     */
    only: { type: 'string' },
    /** How many off/on pairs of each write scenario; the events on/off ratio is their median. */
    rounds: { type: 'string', default: '1' },
    /** Concurrent streams of the stream scenario (one per bench user, the admin among them: at most --users). */
    streams: { type: 'string', default: '1000' },
    /** Writes per second during the stream scenario (each reaches every stream). */
    'stream-writes': { type: 'string', default: '5' },
  },
});
const users = Number(args.users);
const totalTasks = Number(args.tasks);
const duration = Number(args.duration ?? (args.quick ? 2 : 10));
const connections = Number(args.connections);
const bcryptCost = Number(args['bcrypt-cost']);
const GROUPS = ['reads', 'writes', 'stats', 'login', 'startup', 'migrations', 'stream'] as const;
const only = args.only?.split(',').map((g) => g.trim());
const unknownGroup = only?.find((g) => !(GROUPS as readonly string[]).includes(g));
if (unknownGroup) throw new Error(`--only: unknown group ${unknownGroup} (one of ${GROUPS.join(', ')})`);
const wants = (group: (typeof GROUPS)[number]) => !only || only.includes(group);
const rounds = Math.max(1, Number(args.rounds));

// Pin this process (and the embedded PostgreSQL it starts) to CPU 1; servers under test go to CPU 0.
// Decided once, before pinning: once pinned to one CPU, this process sees a parallelism of 1.
const hasTaskset =
  process.env.TASK_API_BENCH_PINNED === '1' ||
  (os.platform() === 'linux' && os.availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0);
if (hasTaskset && !process.env.TASK_API_BENCH_PINNED) {
  const child = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, TASK_API_BENCH_PINNED: '1' },
  });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}

/** Removes the scratch exchange the events-on server declared; best effort (the broker may be absent). */
async function dropExchange(url: string, name: string): Promise<void> {
  try {
    const connection = await amqp.connect(url);
    const channel = await connection.createChannel();
    await channel.deleteExchange(name);
    await connection.close();
  } catch {
    // no broker, or the exchange was never declared
  }
}

interface Row {
  scenario: string;
  /** Busy share of CPU 0 (the server under test) and CPU 1 (load generator and PostgreSQL) during the run. */
  cpu0_busy: number | null;
  cpu1_busy: number | null;
  requests_per_sec: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  non_2xx: number;
  server_rss_mb: number | null;
  ratio: number | null;
  ratio_to: string | null;
}

/** Time until the server answers at all (any HTTP status: the baseline answers 401 without a token). */
async function waitForHttp(url: string, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await fetch(url);
      return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${url} did not answer in ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface Proc {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

async function startProcess(
  command: string[],
  env: Record<string, string>,
  readyPath: string,
): Promise<Proc & { startMs: number }> {
  const port = await freePort();
  const [bin, ...rest] = hasTaskset ? ['taskset', '-c', '0', ...command] : command;
  const child = spawn(bin as string, rest, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const startMs = await waitForHttp(`http://127.0.0.1:${port}${readyPath}`).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    port,
    startMs,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function rssMb(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

/** Busy and total jiffies per CPU, from /proc/stat (Linux). */
async function cpuTimes(): Promise<Array<{ busy: number; total: number }> | null> {
  try {
    const stat = await readFile('/proc/stat', 'utf8');
    return stat
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const f = l.trim().split(/\s+/).slice(1).map(Number);
        const total = f.reduce((a, b) => a + b, 0);
        const idle = (f[3] ?? 0) + (f[4] ?? 0);
        return { busy: total - idle, total };
      });
  } catch {
    return null;
  }
}

/** Waits (up to 60 s) until no other session runs a statement in the bench's database. */
async function databaseIdle(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let tries = 0; tries < 600; tries++) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
      );
      if (rows[0]?.n === 0) return;
      await sleep(100);
    }
  } finally {
    await client.end();
  }
}

/**
 * How the events-on server's publisher sent the outbox (its batch-size histogram in /metrics, and
 * the events still pending). Waits a moment for the last batch to go out.
 */
async function publishedBatches(port: number, databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let tries = 0; ; tries++) {
      const { rows } = await client.query<{ unsent: number }>('SELECT count(*)::int AS unsent FROM event_outbox_pending');
      const unsent = rows[0]?.unsent ?? 0;
      if (unsent === 0 || tries >= 50) {
        const metrics = await (
          await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
        ).text();
        const figure = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
        return {
          events: figure('events_publish_batch_size_sum'),
          batches: figure('events_publish_batch_size_count'),
          unsent,
        };
      }
      await sleep(100);
    }
  } finally {
    await client.end();
  }
}

type RequestFactory = () => { method: string; path: string; headers: Record<string, string>; body?: string };

async function load(port: number, make: RequestFactory, seconds = duration) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: [{ setupRequest: (req) => ({ ...req, ...make() }) as typeof req }],
  });
  return {
    requests_per_sec: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non_2xx: result.non2xx,
  };
}

/** Raw bcrypt verifications per second at the same cost, with the same thread pool, in a fresh process. */
function rawBcryptRate(hash: string, pepper: string, seconds: number): number {
  const script = `
    import { createHmac } from 'node:crypto';
    import { verify } from '@node-rs/bcrypt';
    const input = createHmac('sha256', ${JSON.stringify(pepper)}).update(${JSON.stringify(PASSWORD)}).digest('base64');
    const until = Date.now() + ${seconds * 1000};
    let done = 0;
    const lanes = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    await Promise.all(Array.from({ length: lanes }, async () => { while (Date.now() < until) { await verify(input, ${JSON.stringify(hash)}); done++; } }));
    console.log(done / ${seconds});`;
  const command = [process.execPath, '--input-type=module', '-e', script];
  const out = execFileSync(
    hasTaskset ? 'taskset' : (command[0] as string),
    hasTaskset ? ['-c', '0', ...command] : command.slice(1),
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  return Math.round(Number(out.trim()));
}

function printTable(rows: Row[]) {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'RSS MB', 'CPU0', 'CPU1', 'ratio'];
  const lines = rows.map((r) => [
    r.scenario,
    String(r.requests_per_sec),
    String(r.p50_ms),
    String(r.p99_ms),
    String(r.errors),
    String(r.non_2xx),
    r.server_rss_mb === null ? '-' : String(r.server_rss_mb),
    r.cpu0_busy === null ? '-' : `${Math.round(r.cpu0_busy * 100)}%`,
    r.cpu1_busy === null ? '-' : `${Math.round(r.cpu1_busy * 100)}%`,
    r.ratio === null ? '' : `${r.ratio.toFixed(2)}× ${r.ratio_to}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

async function main() {
  const started = new Date();
  const secret = randomBytes(32).toString('base64url');
  const pepper = randomBytes(32).toString('base64url');
  const tmp = path.join(os.tmpdir(), `task-api-bench-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true, mode: 0o755 });

  // The database: a scratch database on BENCH_DATABASE_URL's server, or an embedded server.
  const quiet = { info: () => {}, debug: () => {}, warn: (m: string) => console.warn(m) };
  const external = process.env.BENCH_DATABASE_URL;
  const embedded = external ? undefined : await startEmbeddedPostgres({ dir: path.join(tmp, 'pg'), ephemeral: true, log: quiet });
  const adminUrl = external ?? (embedded?.adminUrl as string);
  const dbName = `task_api_bench_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrlObj = new URL(adminUrl);
  dbUrlObj.pathname = `/${dbName}`;
  const databaseUrl = dbUrlObj.toString();

  const procs: Proc[] = [];
  try {
    await runMigrations(databaseUrl);
    const hash = await createPasswordHasher({ cost: bcryptCost, pepper }).hash(PASSWORD);
    const firstSize = Math.min(totalTasks, 100_000);
    console.log(`seeding ${users} users and ${firstSize} tasks…`);
    const seedStarted = performance.now();
    await seed(databaseUrl, { users, tasksPerUser: Math.max(1, Math.round(firstSize / users)), hash });
    // Five users who are editors of two projects shared with them (100 tasks each) besides their own.
    const sharingUsers = [9, 10, 11, 12, 13].map((n) => `bench_user_${n}`);
    await shareProjects(databaseUrl, { owners: ['bench_user_7', 'bench_user_8'], members: sharingUsers, tasksPerProject: 100 });
    console.log(`seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

    // Raw bcrypt first, on an idle machine, on the CPU the server will use.
    const bcryptRate = wants('login') ? rawBcryptRate(hash, pepper, Math.max(3, Math.min(duration, 5))) : 0;
    const serverEnv = {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      JWT_SECRET: secret,
      PASSWORD_PEPPER: pepper,
      WORKERS: '1',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_ENABLED: 'false',
      STATS_CACHE_TTL_MS: '0',
      // The opt-in login cache (see README, Performance); BENCH_AUTH_CACHE_TTL_MS=0 measures without it.
      AUTH_CACHE_TTL_MS: process.env.BENCH_AUTH_CACHE_TTL_MS ?? '60000',
      BCRYPT_COST: String(bcryptCost),
      HOST: '127.0.0.1',
      // Events off means no outbox at all: webhooks and the stream (on by default) would write it too.
      WEBHOOKS_ENABLED: 'false',
      STREAM_ENABLED: 'false',
    };
    const server = await startProcess([process.execPath, ...serverNodeArgs, SERVER], serverEnv, '/healthz');
    procs.push(server);
    const baseline = wants('reads')
      ? await startProcess(
          [process.execPath, '--import', 'tsx', BASELINE],
          { DATABASE_URL: databaseUrl, JWT_SECRET: secret },
          '/api/v1/tasks',
        )
      : undefined;
    if (baseline) procs.push(baseline);

    // A few users' tokens, and ids of their tasks.
    const api = `http://127.0.0.1:${server.port}/api/v1`;
    const login = async (username: string) => {
      const res = await fetch(`${api}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: PASSWORD }),
      });
      if (!res.ok) throw new Error(`login ${username}: ${res.status}`);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const benchUsers = [2, 3, 4, 5, 6].map((n) => `bench_user_${n}`);
    const tokens = await Promise.all(benchUsers.map(login));
    const adminToken = await login('bench_user_1');
    const sharingTokens = await Promise.all(sharingUsers.map(login));
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    // One query at a time: a pg client runs its queries in turn, and queueing them is deprecated.
    const idsByToken: number[][] = [];
    for (const username of benchUsers) {
      const { rows } = await client.query<{ id: string }>(
        'SELECT t.id FROM tasks t JOIN users u ON u.id = t.user_id WHERE u.username = $1 LIMIT 100',
        [username],
      );
      idsByToken.push(rows.map((r) => Number(r.id)));
    }
    await client.end();

    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)] as T;
    const asUser = () => {
      const i = Math.floor(Math.random() * tokens.length);
      return { token: tokens[i] as string, ids: idsByToken[i] as number[] };
    };
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const asSharingUser = () => ({
      method: 'GET',
      path: '/api/v1/tasks',
      headers: auth(sharingTokens[Math.floor(Math.random() * sharingTokens.length)] as string),
    });
    const json = { 'content-type': 'application/json' };

    const rows: Row[] = [];
    let publishing: Awaited<ReturnType<typeof publishedBatches>> | undefined;
    const eventRatios: Array<{ on: Row; off: Row }> = [];
    const run = async (scenario: string, port: number, make: RequestFactory, pid?: number, seconds?: number) => {
      process.stdout.write(`${scenario}… `);
      const before = await cpuTimes();
      const figures = await load(port, make, seconds);
      const after = await cpuTimes();
      const busy = (i: number) => {
        const a = after?.[i];
        const b = before?.[i];
        return a && b && hasTaskset ? Math.round(((a.busy - b.busy) / (a.total - b.total)) * 100) / 100 : null;
      };
      const row: Row = {
        scenario,
        ...figures,
        server_rss_mb: await rssMb(pid),
        cpu0_busy: busy(0),
        cpu1_busy: busy(1),
        ratio: null,
        ratio_to: null,
      };
      rows.push(row);
      console.log(`${row.requests_per_sec} req/s, p99 ${row.p99_ms} ms`);
      return row;
    };
    // taskset execs the command: the pid is the server's own.
    const serverPid = server.child.pid;

    /**
     * An admin's list across every user: page 1, page 5,000 by offset and by cursor (the cursor of
     * row 99,980 in the default order, made as the server makes it, with its secret), and a q search
     * (a random fragment of the descriptions' md5s: a few matches among all tasks). Ratios to page 1.
     */
    const adminPaging = async (at: string) => {
      const PAGE = 5000;
      const cursorDb = new pg.Client({ connectionString: databaseUrl });
      await cursorDb.connect();
      await cursorDb.query("SET TIME ZONE 'UTC'");
      const { rows: ends } = await cursorDb.query<{ value: string; id: string }>(
        'SELECT created_at::text AS value, id FROM tasks ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1',
        [(PAGE - 1) * 20 - 1],
      );
      await cursorDb.end();
      const end = ends[0];
      if (!end) return;
      const cursor = createCursors(secret, 'tasks').encode(
        { sort: 'created_at', descending: true, value: end.value, id: Number(end.id) },
        {},
      );
      const asAdmin = (target: string) => () => ({ method: 'GET', path: `/api/v1/tasks${target}`, headers: auth(adminToken) });
      const first = await run(`admin GET /tasks page 1${at}`, server.port, asAdmin('?limit=20'), serverPid);
      const byCursor = await run(
        `admin GET /tasks page ${PAGE} by cursor${at}`,
        server.port,
        asAdmin(`?limit=20&cursor=${cursor}`),
        serverPid,
      );
      const search = await run(
        `admin GET /tasks?q= (search)${at}`,
        server.port,
        () => ({
          method: 'GET',
          path: `/api/v1/tasks?limit=20&q=${randomBytes(3).toString('hex').slice(0, 5)}`,
          headers: auth(adminToken),
        }),
        serverPid,
      );
      // Last: its slow requests would otherwise still hold the pool when the next scenario starts.
      const byOffset = await run(
        `admin GET /tasks page ${PAGE} by offset${at}`,
        server.port,
        asAdmin(`?limit=20&offset=${(PAGE - 1) * 20}`),
        serverPid,
      );
      // Its slowest requests outlast the scenario: let the database finish them before the next one.
      await databaseIdle(databaseUrl);
      for (const row of [byOffset, byCursor, search]) {
        row.ratio = row.p50_ms / first.p50_ms;
        row.ratio_to = `p50 of admin page 1${at}`;
      }
      paging.push({
        tasks: at,
        page1_p50_ms: first.p50_ms,
        offset_p50_ms: byOffset.p50_ms,
        cursor_p50_ms: byCursor.p50_ms,
        cursor_p50_ratio: byCursor.p50_ms / first.p50_ms,
        search_p50_ms: search.p50_ms,
        search_p99_ms: search.p99_ms,
      });
    };
    const paging: Array<Record<string, number | string>> = [];

    // Warm both servers up (JIT, pools, caches) before measuring.
    if (baseline) await load(baseline.port, () => ({ method: 'GET', path: '/api/v1/tasks', headers: auth(asUser().token) }), 1);
    await load(server.port, () => ({ method: 'GET', path: '/api/v1/tasks', headers: auth(asUser().token) }), 1);

    let base: Row | undefined;
    let list: Row | undefined;
    if (baseline) {
      base = await run('baseline GET /tasks', baseline.port, () => ({
        method: 'GET',
        path: '/api/v1/tasks',
        headers: auth(asUser().token),
      }));
      list = await run(
        'GET /tasks',
        server.port,
        () => ({ method: 'GET', path: '/api/v1/tasks', headers: auth(asUser().token) }),
        serverPid,
      );
      await run('GET /tasks (member of two shared projects)', server.port, asSharingUser, serverPid);
      await adminPaging('');
      await run(
        'GET /tasks?status&sort',
        server.port,
        () => ({
          method: 'GET',
          path: '/api/v1/tasks?status=pending,in_progress&sort=-priority&limit=20',
          headers: auth(asUser().token),
        }),
        serverPid,
      );
      await run(
        'GET /tasks/{id}',
        server.port,
        () => {
          const u = asUser();
          return { method: 'GET', path: `/api/v1/tasks/${pick(u.ids)}`, headers: auth(u.token) };
        },
        serverPid,
      );
    }
    // Writes with events off and on (a second server with AMQP_URL, scratch exchange), side by side:
    // each pair runs back to back so drift hits both alike; the on row's ratio is to the off row.
    const createTask: RequestFactory = () => ({
      method: 'POST',
      path: '/api/v1/tasks',
      headers: { ...auth(asUser().token), ...json },
      body: JSON.stringify({ title: 'Benchmark task', description: 'Created under load', priority: 'high' }),
    });
    const updateTask: RequestFactory = () => {
      const u = asUser();
      return {
        method: 'PUT',
        path: `/api/v1/tasks/${pick(u.ids)}`,
        headers: { ...auth(u.token), ...json },
        body: JSON.stringify({ status: pick(['pending', 'in_progress', 'completed']) }),
      };
    };
    if (wants('writes')) {
      const withEvents = await startProcess(
        [process.execPath, ...serverNodeArgs, SERVER],
        { ...serverEnv, AMQP_URL: amqpUrl, AMQP_EXCHANGE: exchange, METRICS_TOKEN },
        '/healthz',
      );
      procs.push(withEvents);
      await load(server.port, createTask, 1);
      await load(withEvents.port, createTask, 1);
      for (let round = 0; round < rounds; round++) {
        for (const [scenario, make] of [
          ['POST /tasks', createTask],
          ['PUT /tasks/{id}', updateTask],
        ] as const) {
          const off = await run(scenario, server.port, make, serverPid);
          const on = await run(`${scenario} (events on)`, withEvents.port, make, withEvents.child.pid);
          eventRatios.push({ on, off });
        }
      }
      publishing = await publishedBatches(withEvents.port, databaseUrl);
    }
    if (wants('stats'))
      await run(
        'GET /tasks/admin/stats',
        server.port,
        () => ({ method: 'GET', path: '/api/v1/tasks/admin/stats', headers: auth(adminToken) }),
        serverPid,
      );
    const loginRow = wants('login')
      ? await run(
          'POST /auth/login',
          server.port,
          () => ({
            method: 'POST',
            path: '/api/v1/auth/login',
            headers: json,
            body: JSON.stringify({ username: pick(benchUsers), password: PASSWORD }),
          }),
          serverPid,
        )
      : undefined;

    if (publishing)
      console.log(`publisher: ${publishing.events} events in ${publishing.batches} batches, ${publishing.unsent} unsent`);
    const eventRows = new Set(eventRatios.map((r) => r.on));
    for (const row of rows) {
      if (!base || row === base || row === loginRow || eventRows.has(row)) continue;
      row.ratio = row.requests_per_sec / base.requests_per_sec;
      row.ratio_to = 'baseline';
    }
    for (const { on, off } of eventRatios) {
      on.ratio = on.requests_per_sec / off.requests_per_sec;
      on.ratio_to = 'events off';
    }
    if (loginRow) {
      loginRow.ratio = loginRow.requests_per_sec / bcryptRate;
      loginRow.ratio_to = `raw bcrypt (${bcryptRate}/s)`;
    }
    // Each write scenario's events on/off ratio: the median of its rounds.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const eventsOnOff: Record<string, number> = {};
    for (const scenario of new Set(eventRatios.map(({ off }) => off.scenario))) {
      eventsOnOff[scenario] = median(
        eventRatios
          .filter(({ off }) => off.scenario === scenario)
          .map(({ on, off }) => on.requests_per_sec / off.requests_per_sec),
      );
    }

    // Scale: the same list and uncached statistics at 1,000,000 tasks.
    let scale: Record<string, number> | undefined;
    if (list && totalTasks > firstSize) {
      console.log(`adding tasks up to ${totalTasks}…`);
      const topUp = performance.now();
      await seed(databaseUrl, { users, tasksPerUser: Math.round(totalTasks / users), hash, topUpOnly: true });
      console.log(`seeded in ${((performance.now() - topUp) / 1000).toFixed(1)} s`);
      const bigList = await run(
        `GET /tasks @ ${totalTasks}`,
        server.port,
        () => ({ method: 'GET', path: '/api/v1/tasks', headers: auth(asUser().token) }),
        serverPid,
      );
      await run(`GET /tasks (member of two shared projects) @ ${totalTasks}`, server.port, asSharingUser, serverPid);
      const bigStats = await run(
        `GET /tasks/admin/stats @ ${totalTasks}`,
        server.port,
        () => ({
          method: 'GET',
          path: '/api/v1/tasks/admin/stats',
          headers: auth(adminToken),
        }),
        serverPid,
      );
      await adminPaging(` @ ${totalTasks}`);
      bigList.ratio = bigList.p50_ms / list.p50_ms;
      bigList.ratio_to = `p50 of GET /tasks @ ${firstSize}`;
      scale = {
        list_p50_ratio: bigList.p50_ms / list.p50_ms,
        list_p99_ratio: bigList.p99_ms / list.p99_ms,
        stats_p99_ms: bigStats.p99_ms,
      };
    }

    // The migrations since the one-write-path issue (due dates, labels, search indexes, projects), each
    // timed on a scratch database that already holds --tasks tasks, and whether it rewrote the table.
    let migrations: Awaited<ReturnType<typeof timeMigrations>> | undefined;
    if (wants('migrations') && (totalTasks > firstSize || only?.includes('migrations'))) {
      const scratch = `${dbName}_migrations`;
      await admin.query(`CREATE DATABASE ${scratch}`);
      const scratchUrl = new URL(adminUrl);
      scratchUrl.pathname = `/${scratch}`;
      console.log(`timing the migrations after ${MIGRATIONS_AFTER} on ${totalTasks} tasks…`);
      try {
        migrations = await timeMigrations(scratchUrl.toString(), {
          after: MIGRATIONS_AFTER,
          users,
          tasksPerUser: Math.round(totalTasks / users),
          hash,
        });
      } finally {
        await admin.query(`DROP DATABASE ${scratch}`);
      }
    }

    // A fresh server holding the streams: its memory is the streams', not earlier scenarios'.
    let stream: StreamBenchResult | undefined;
    if (wants('stream')) {
      process.stdout.write('GET /stream… ');
      const streamServer = await startProcess(
        [process.execPath, ...serverNodeArgs, SERVER],
        { ...serverEnv, STREAM_ENABLED: 'true' },
        '/healthz',
      );
      procs.push(streamServer);
      stream = await benchStreams({
        port: streamServer.port,
        pid: streamServer.child.pid,
        databaseUrl,
        jwtSecret: secret,
        streams: Number(args.streams),
        idleSeconds: args.quick ? 5 : 30,
        writeSeconds: duration,
        writesPerSecond: Number(args['stream-writes']),
      });
      await streamServer.stop();
      console.log('done');
    }

    // Start-up to first answer, with an initialised embedded database.
    let startup: { initialising: number; initialised: number } | undefined;
    if (wants('startup')) {
      const startupDir = path.join(tmp, 'startup');
      await mkdir(startupDir, { recursive: true, mode: 0o755 });
      const startupEnv = {
        DATA_DIR: startupDir,
        LOG_LEVEL: 'warn',
        JWT_SECRET: secret,
        PASSWORD_PEPPER: pepper,
        BCRYPT_COST: String(bcryptCost),
      };
      const first = await startProcess([process.execPath, SERVER], startupEnv, '/healthz');
      await first.stop();
      const second = await startProcess([process.execPath, SERVER], startupEnv, '/healthz');
      await second.stop();
      startup = { initialising: Math.round(first.startMs), initialised: Math.round(second.startMs) };
    }

    console.log();
    printTable(rows);
    console.log();
    if (eventRatios.length > 0) {
      const of = rounds > 1 ? ` (median of ${rounds} rounds)` : '';
      console.log(
        `events on/off${of}: ${Object.entries(eventsOnOff)
          .map(([scenario, ratio]) => `${scenario} ${ratio.toFixed(2)}×`)
          .join(', ')}`,
      );
    }
    if (stream)
      console.log(
        `stream: ${stream.streams} open (in ${stream.open_ms} ms), RSS ${stream.rss_before_mb} → ${stream.rss_open_mb} MB (${stream.kb_per_stream} KB each), ` +
          `idle CPU ${stream.idle_cpu_percent}% of a core over ${stream.idle_seconds} s; ${stream.writes} writes, ${stream.deliveries} arrivals (${stream.missing} missing), ` +
          `write to arrival p50 ${stream.from_request_p50_ms} ms, p99 ${stream.from_request_p99_ms} ms, max ${stream.from_request_max_ms} ms ` +
          `(from the response: p99 ${stream.from_response_p99_ms} ms); a write on every stream p99 ${stream.all_streams_p99_ms} ms`,
      );
    if (startup)
      console.log(
        `start-up to first answer: ${startup.initialising} ms (initialising the embedded database), ${startup.initialised} ms (initialised)`,
      );
    for (const p of paging)
      console.log(
        `admin paging${p.tasks}: page 5000 by cursor p50 ${p.cursor_p50_ms} ms (${Number(p.cursor_p50_ratio).toFixed(2)}× page 1, ${p.page1_p50_ms} ms), by offset ${p.offset_p50_ms} ms; q search p50 ${p.search_p50_ms} ms, p99 ${p.search_p99_ms} ms`,
      );
    if (migrations)
      for (const m of migrations.timings)
        console.log(
          `migration ${m.tag} on ${migrations.seeded} tasks: ${m.seconds.toFixed(2)} s${m.rewroteTasks ? ' (REWROTE the tasks table)' : ', tasks not rewritten'}`,
        );
    if (scale)
      console.log(
        `scale: GET /tasks p50 at ${totalTasks} is ${scale.list_p50_ratio?.toFixed(2)}× its p50 at ${firstSize}; uncached stats p99 ${scale.stats_p99_ms} ms`,
      );

    const result = {
      date: started.toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        memory_gb: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        pinned: hasTaskset,
      },
      settings: {
        users,
        tasks: totalTasks,
        duration_s: duration,
        connections,
        bcrypt_cost: bcryptCost,
        only: only?.join(','),
        rounds,
        database: external ? 'BENCH_DATABASE_URL' : 'embedded',
      },
      rows,
      startup_ms: startup,
      raw_bcrypt_per_sec: loginRow ? bcryptRate : undefined,
      scale,
      admin_paging: paging,
      migrations,
      events_on_off: eventsOnOff,
      stream,
    };
    const file = path.join(
      ROOT,
      'bench/results',
      `${started.toISOString().replace(/[:.]/g, '-')}${args.quick ? '-quick' : ''}${only ? `-${only.join('-')}` : ''}.json`,
    );
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`results: ${path.relative(ROOT, file)}`);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await dropExchange(amqpUrl, exchange);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}
