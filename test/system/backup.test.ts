import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from '../helpers/db.js';

const BACKUP = path.resolve('dist/scripts/backup.js');
const RESTORE = path.resolve('dist/scripts/restore.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a built script with only the given environment (no DATABASE_URL leaks in from the test's own). */
function run(script: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const execFileAsync = promisify(execFile);

/** The test's own survey of pg_dump: the one on PATH and Debian's per-version copies; the newest. */
async function newestPgDump(): Promise<{ major: number; path: string } | undefined> {
  const candidates = ['pg_dump'];
  const debian = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of debian) candidates.push(`/usr/lib/postgresql/${version}/bin/pg_dump`);
  let newest: { major: number; path: string } | undefined;
  for (const candidate of candidates) {
    const out = await execFileAsync(candidate, ['--version']).catch(() => undefined);
    const major = Number(/\(PostgreSQL\)\s+(\d+)/.exec(out?.stdout ?? '')?.[1] ?? Number.NaN);
    if (major && (!newest || major > newest.major)) newest = { major, path: candidate };
  }
  return newest;
}

async function serverMajor(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
    return Math.floor(rows[0]!.v / 10_000);
  } finally {
    await client.end();
  }
}

/** Every row of every table and every sequence's position, as text: what a restore must bring back exactly. */
async function snapshot(url: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: relations } = await client.query<{ name: string; kind: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1`,
    );
    const result: Record<string, string[]> = {};
    for (const { name, kind } of relations) {
      const sql =
        kind === 'S'
          ? `SELECT format('%s %s', last_value, is_called) AS r FROM ${name}`
          : `SELECT to_jsonb(t)::text AS r FROM ${name} t ORDER BY 1`;
      result[name] = (await client.query<{ r: string }>(sql)).rows.map((row) => row.r);
    }
    return result;
  } finally {
    await client.end();
  }
}

/** The URL with a password in it: the real one when the server needs it, otherwise a marker (trust authentication ignores it). */
function withPassword(url: string): { url: string; password: string } {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = `marker-${randomBytes(6).toString('hex')}`;
  return { url: parsed.toString(), password: decodeURIComponent(parsed.password) };
}

function expectOneLine(result: Run, code: number, pattern: RegExp) {
  expect(result.code).toBe(code);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

let dir: string;
let pgDump: Awaited<ReturnType<typeof newestPgDump>>;
beforeAll(async () => {
  // 0755: as root the embedded PostgreSQL runs as `postgres` and must reach its data directory inside.
  dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-backup-'));
  await chmod(dir, 0o755);
  pgDump = await newestPgDump();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('db:backup and db:restore on DATABASE_URL', () => {
  let db: TestDatabase;
  let app: TestApp;
  let major: number;
  let url: string;
  let password: string;
  const outputs: string[] = [];
  const runLogged = async (script: string, args: string[], env: Record<string, string> = {}) => {
    const result = await run(script, args, env);
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    ({ url, password } = withPassword(db.url));
    app = await startApp(testConfig(db.url));
    major = await serverMajor(db.url);
  });
  afterAll(async () => {
    await app.close();
    await db.drop();
  });

  it('round trip: every row comes back, in a scratch database and, with --yes, over the changed original', async () => {
    const file = path.join(dir, 'round-trip.dump');
    if (!pgDump || pgDump.major < major) {
      // No pg_dump here can read this server: the scripts say so, naming both versions.
      const refused = await runLogged(BACKUP, [file], { DATABASE_URL: url });
      expectOneLine(
        refused,
        2,
        new RegExp(
          `^db:backup: the database is PostgreSQL ${major}; pg_dump ${major} or newer is needed \\(found .*${pgDump?.major ?? 'none'}`,
        ),
      );
      expect(refused.stderr).toContain(`install postgresql-client-${major} or set PG_BIN_DIR`);
      expect(existsSync(file)).toBe(false);
      return;
    }

    const { api } = app;
    const ada = await registerWithTasks(app, 'ada', ['write the report', 'Überprüfung — ✓', 'call Bob']);
    await registerWithTasks(app, 'bob', ['only task']);
    const firstTask = (await api.get('/tasks', { token: ada.token })).body[0];
    expect((await api.patch(`/tasks/${firstTask.id}`, { status: 'completed' }, { token: ada.token })).status).toBe(200);
    const before = await snapshot(db.url);
    expect(before['public.tasks']).toHaveLength(4);

    const backup = await runLogged(BACKUP, [file], { DATABASE_URL: url });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const [, writtenPath, bytes] = /^db:backup: wrote (\S+) \((\d+) bytes\)/.exec(backup.stdout) ?? [];
    expect(writtenPath).toBe(file);
    const info = await stat(file);
    expect(info.size).toBe(Number(bytes));
    expect(info.mode & 0o777).toBe(0o600);
    expect((await readFile(file)).subarray(0, 5).toString()).toBe('PGDMP');

    // Change everything a restore must undo.
    expect((await api.delete(`/tasks/${firstTask.id}`, { token: ada.token })).status).toBe(204);
    await registerWithTasks(app, 'carol', ['new after the backup']);
    const changed = await snapshot(db.url);
    expect(changed).not.toEqual(before);

    // Into a scratch database: how a backup is checked.
    const scratch = await createEmptyDatabase();
    try {
      const restored = await runLogged(RESTORE, [file, '--database-url', withPassword(scratch.url).url]);
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(/^db:restore: restored \S+ into the database "\w+" on [\w.:-]+ \(\d+ tables/);
      expect(await snapshot(scratch.url)).toEqual(before);

      // The restored database serves the same logins, and its sequences continue past the restored rows.
      const restoredApp = await startApp({ ...app.config, databaseUrl: scratch.url });
      try {
        const tasks = await restoredApp.api.get('/tasks', { token: ada.token });
        expect(tasks.status).toBe(200);
        expect(tasks.body.map((t: { id: number }) => t.id).sort()).toEqual(
          before['public.tasks']!.map((r) => JSON.parse(r))
            .filter((t) => t.user_id === ada.id)
            .map((t) => t.id)
            .sort(),
        );
        const created = await restoredApp.api.post('/tasks', { title: 'after restore' }, { token: ada.token });
        expect(created.status).toBe(201);
        expect(created.body.id).toBeGreaterThan(Math.max(...before['public.tasks']!.map((r) => JSON.parse(r).id)));
      } finally {
        await restoredApp.close();
      }
    } finally {
      await scratch.drop();
    }

    // By name, on the configured server: the scratch database is created for the restore.
    const checkName = `task_api_c_${inject('runId')}_${randomBytes(3).toString('hex')}`;
    const byName = await runLogged(RESTORE, [file, '--database', checkName], { DATABASE_URL: url });
    expect(byName.stderr).toBe('');
    expect(byName.stdout).toContain(`into the database "${checkName}" on`);
    expect(byName.stdout).toContain('created for it');
    const checkUrl = new URL(db.url);
    checkUrl.pathname = `/${checkName}`;
    expect(await snapshot(checkUrl.toString())).toEqual(before);
    await dropDatabase(checkName);

    // Over the original, which has tables: refused without --yes, and nothing changes.
    const refused = await runLogged(RESTORE, [file], { DATABASE_URL: url });
    expectOneLine(refused, 1, /^db:restore: the database "\w+" on \S+ already has \d+ tables; .* Add --yes to go ahead$/m);
    expect(await snapshot(db.url)).toEqual(changed);
    const forced = await runLogged(RESTORE, [file, '--yes'], { DATABASE_URL: url });
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(await snapshot(db.url)).toEqual(before);
  }, 180_000);

  it('a missing, corrupt or truncated file, an unknown database, an existing target: one clear line, non-zero', async () => {
    const missing = await runLogged(RESTORE, [path.join(dir, 'nowhere.dump'), '--database-url', url]);
    expectOneLine(missing, 1, /^db:restore: cannot read \S+nowhere\.dump: no such file$/m);

    const corrupt = path.join(dir, 'corrupt.dump');
    await writeFile(corrupt, randomBytes(4096));
    expectOneLine(
      await runLogged(RESTORE, [corrupt, '--yes', '--database-url', url]),
      1,
      /^db:restore: \S+corrupt\.dump is not a backup pg_restore \d+ can read: .+$/m,
    );
    const truncated = path.join(dir, 'truncated.dump');
    await writeFile(truncated, Buffer.concat([Buffer.from('PGDMP'), randomBytes(100)]));
    expectOneLine(
      await runLogged(RESTORE, [truncated, '--yes', '--database-url', url]),
      1,
      /is not a backup pg_restore \d+ can read/,
    );

    const unknown = new URL(url);
    unknown.pathname = `/task_api_missing_${randomBytes(3).toString('hex')}`;
    const noDatabase = await runLogged(BACKUP, [path.join(dir, 'none.dump')], { DATABASE_URL: unknown.toString() });
    expectOneLine(noDatabase, 1, /^db:backup: database "task_api_missing_\w+" does not exist$/m);
    expect(existsSync(path.join(dir, 'none.dump'))).toBe(false);

    const existing = path.join(dir, 'existing.dump');
    await writeFile(existing, 'keep me');
    expectOneLine(await runLogged(BACKUP, [existing], { DATABASE_URL: url }), 1, /already exists; give another FILE$/m);
    expect(await readFile(existing, 'utf8')).toBe('keep me');

    // Usage errors: the message, then the usage.
    const noFile = await runLogged(RESTORE, []);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/^db:restore: one FILE is needed\nusage: npm run db:restore -- FILE/);
    expectOneLine(
      await runLogged(BACKUP, ['--database-url', 'mysql://x']),
      2,
      /^db:backup: --database-url must be a postgres:\/\/ or postgresql:\/\/ URL$/m,
    );
    expectOneLine(
      await runLogged(RESTORE, [corrupt, '--database', 'x; DROP TABLE users'], { DATABASE_URL: url }),
      1,
      /is not a backup/,
    );
    expectOneLine(
      await runLogged(BACKUP, ['--database', 'x; DROP TABLE users'], { DATABASE_URL: url }),
      2,
      /^db:backup: --database must be a database name/m,
    );
    expectOneLine(await runLogged(BACKUP, ['--database', 'a', '--database-url', url]), 2, /not both$/m);
  }, 120_000);

  it('no script printed the password of the connection it used', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const output of outputs) expect(output).not.toContain(password);
  });
});

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

async function registerWithTasks(app: TestApp, prefix: string, titles: string[]) {
  const name = `${prefix}_${randomBytes(3).toString('hex')}`;
  const credentials = { username: name, email: `${name}@example.com`, password: `pw-${randomBytes(8).toString('hex')}` };
  const registered = await app.api.post('/auth/register', credentials);
  expect(registered.status).toBe(201);
  const login = await app.api.post('/auth/login', { username: name, password: credentials.password });
  const token = login.body.access_token as string;
  for (const [i, title] of titles.entries()) {
    const description = i % 2 ? null : `details of ${title}`;
    expect((await app.api.post('/tasks', { title, description }, { token })).status).toBe(201);
  }
  return { id: registered.body.id as number, token };
}

describe('db:backup on the embedded database (no DATABASE_URL)', () => {
  it('starts the embedded server for the backup and stops it after; attaches to a running one and leaves it running', async () => {
    const dataDir = path.join(dir, 'data');
    const pgDir = path.join(dataDir, 'postgres');
    const first = await run(BACKUP, [path.join(dir, 'embedded-1.dump')], { DATA_DIR: dataDir });
    // The version of the server the script started, read from its data directory.
    const embeddedMajor = Number((await readFile(path.join(pgDir, 'PG_VERSION'), 'utf8')).trim());
    const canDump = pgDump !== undefined && pgDump.major >= embeddedMajor;
    const check = (result: Run, file: string) => {
      if (canDump) {
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(`db:backup: wrote ${file}`);
        expect(existsSync(file)).toBe(true);
      } else {
        expectOneLine(
          result,
          2,
          new RegExp(
            `^db:backup: the database is PostgreSQL ${embeddedMajor}; pg_dump ${embeddedMajor} or newer is needed \\(found .*${pgDump?.major ?? 'none'}`,
          ),
        );
        expect(existsSync(file)).toBe(false);
      }
    };
    check(first, path.join(dir, 'embedded-1.dump'));
    expect(existsSync(path.join(pgDir, 'postmaster.pid'))).toBe(false);

    // A live task-api (here: this test process) owns the running server: the script uses it and leaves it running.
    const quiet = { info: () => {}, debug: () => {}, warn: () => {} };
    const running = await startEmbeddedPostgres({ dir: pgDir, log: quiet });
    try {
      const second = await run(BACKUP, [path.join(dir, 'embedded-2.dump')], { DATA_DIR: dataDir });
      check(second, path.join(dir, 'embedded-2.dump'));
      const password = (await readFile(`${pgDir}.password`, 'utf8')).trim();
      expect(second.stdout + second.stderr).not.toContain(password);
      const client = new pg.Client({ connectionString: running.url });
      await client.connect();
      expect((await client.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await client.end();
    } finally {
      await running.stop();
    }
  }, 180_000);
});
