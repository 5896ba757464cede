import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../../src/lib/net.js';

/**
 * A real PostgreSQL primary and a real streaming replica (pg_basebackup -R) on spare ports, from the
 * machine's PostgreSQL server binaries (Debian: the postgresql package). Both must be one major
 * version, so the embedded PostgreSQL (which ships no pg_basebackup) is not used here. PostgreSQL
 * refuses to run as root: as root, every server command runs as the `postgres` system user.
 */
export interface ReplicationPair {
  /** The application database on the primary and on the replica. */
  primaryUrl: string;
  replicaUrl: string;
  /** Superuser connections for arranging the test (pausing replay, writing behind the API's back). */
  primary: pg.Pool;
  replica: pg.Pool;
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  /** Ends recovery: the replica becomes a primary of its own (irreversible for this pair). */
  promoteReplica(): Promise<void>;
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Waits until the replica has replayed everything the primary has written so far. */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/** The bin directory of the newest PostgreSQL server installed with pg_basebackup beside it. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // pg_config is not on PATH: look where Debian installs the servers.
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debian, v, 'bin')));
  }
  const found = candidates.find((dir) =>
    ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup'].every((b) => existsSync(path.join(dir, b))),
  );
  if (!found) {
    throw new Error('PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found; install Debian package postgresql');
  }
  return found;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

function postgresUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(bin: string, args: string[], as: RunAs, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...as,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8' },
    });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });
}

async function waitForQuery(pool: pg.Pool, sql: string, ok: (row: Record<string, unknown>) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const { rows } = await pool.query(sql);
      if (rows[0] && ok(rows[0])) return;
      last = rows[0];
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`condition not met in ${timeoutMs} ms (${sql}): ${String((last as Error)?.message ?? JSON.stringify(last))}`);
}

const DATABASE = 'task_api';

/** Starts the pair; `prepare` runs on the primary's application database before the replica is cloned. */
export async function startReplicationPair(prepare?: (url: string) => Promise<void>): Promise<ReplicationPair> {
  const bin = postgresBinDir();
  const as = postgresUser();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-replication-'));
  if (as.uid !== undefined) await chown(dir, as.uid, as.gid as number);
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const pgCtl = (args: string[]) => run(path.join(bin, 'pg_ctl'), args, as, dir);
  const start = (dataDir: string, name: string) =>
    pgCtl(['-D', dataDir, '-l', path.join(dir, `${name}.log`), '-w', '-t', '120', 'start']);
  const stop = (dataDir: string, mode: 'fast' | 'immediate') => pgCtl(['-D', dataDir, '-m', mode, '-w', '-t', '120', 'stop']);

  const serverSettings = (port: number) =>
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'max_connections = 100',
      // A test cluster: losing it in a crash costs nothing, and it should not slow the machine.
      'fsync = off',
      'full_page_writes = off',
      '',
    ].join('\n');

  try {
    await run(
      path.join(bin, 'initdb'),
      ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
      as,
      dir,
    );
    await appendFile(
      path.join(primaryDir, 'postgresql.conf'),
      `\n${serverSettings(primaryPort)}wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\n`,
    );
    // Local test clusters only: trust on the loopback address, replication included.
    await appendFile(
      path.join(primaryDir, 'pg_hba.conf'),
      '\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n',
    );
    await start(primaryDir, 'primary');
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${primaryPort}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/${DATABASE}`;
    await prepare?.(primaryUrl);

    // The replica: a base backup that writes standby.signal and primary_conninfo (-R), with a slot
    // so the primary keeps the WAL the replica needs while it is stopped.
    await run(
      path.join(bin, 'pg_basebackup'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(primaryPort),
        '-U',
        'postgres',
        '-D',
        replicaDir,
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        'replica1',
        '--checkpoint=fast',
      ],
      as,
      dir,
    );
    await appendFile(path.join(replicaDir, 'postgresql.conf'), `\n${serverSettings(replicaPort)}hot_standby = on\n`);
    await start(replicaDir, 'replica');

    const replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}/${DATABASE}`;
    const primary = new pg.Pool({ connectionString: primaryUrl, max: 3 });
    const replica = new pg.Pool({ connectionString: replicaUrl, max: 2 });
    // Stopping the replica ends its idle connections: expected, not a crash.
    replica.on('error', () => {});
    primary.on('error', () => {});
    await waitForQuery(replica, 'SELECT pg_is_in_recovery() AS r', (row) => row.r === true, 60_000);

    const waitForCatchUp = async (timeoutMs = 30_000) => {
      const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      await waitForQuery(
        replica,
        `SELECT pg_last_wal_replay_lsn() >= '${rows[0]?.lsn}'::pg_lsn AS caught_up`,
        (row) => row.caught_up === true,
        timeoutMs,
      );
    };

    return {
      primaryUrl,
      replicaUrl,
      primary,
      replica,
      stopReplica: () => stop(replicaDir, 'fast'),
      startReplica: async () => {
        await start(replicaDir, 'replica');
        await waitForQuery(replica, 'SELECT pg_is_in_recovery() AS r', (row) => row.r === true, 60_000);
      },
      promoteReplica: async () => {
        await pgCtl(['-D', replicaDir, '-w', '-t', '120', 'promote']);
        await waitForQuery(replica, 'SELECT pg_is_in_recovery() AS r', (row) => row.r === false, 60_000);
      },
      pauseReplay: async () => {
        await replica.query('SELECT pg_wal_replay_pause()');
        await waitForQuery(replica, 'SELECT pg_get_wal_replay_pause_state() AS s', (row) => row.s === 'paused', 30_000);
      },
      resumeReplay: async () => {
        await replica.query('SELECT pg_wal_replay_resume()');
      },
      waitForCatchUp,
      destroy: async () => {
        await Promise.allSettled([primary.end(), replica.end()]);
        await stop(replicaDir, 'immediate').catch(() => {});
        await stop(primaryDir, 'immediate').catch(() => {});
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop(replicaDir, 'immediate').catch(() => {});
    await stop(primaryDir, 'immediate').catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
