import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pg from 'pg';

/**
 * PostgreSQL's own client tools (pg_dump, pg_restore) for db:backup and db:restore: finding one
 * recent enough for the server, and running it without the password ever reaching a command line.
 */
export type PgTool = 'pg_dump' | 'pg_restore';

/** A failure the scripts report as one line, exiting with `exitCode` (2: usage or missing tool; 1: anything else). */
export class ScriptError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ToolConnection {
  /** The connection string without its password: safe for a command line and for messages. */
  dbname: string;
  /** Environment for the tool: the password travels as PGPASSWORD, never as an argument. */
  env: Record<string, string>;
  password: string | undefined;
  /** `database "x" on host:port`, for messages. */
  label: string;
}

export function toolConnection(url: string): ToolConnection {
  const parsed = new URL(url);
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.password = '';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return {
    dbname: parsed.toString(),
    env: password === undefined ? {} : { PGPASSWORD: password },
    password,
    label: `database "${database}" on ${parsed.host}`,
  };
}

/** Removes the password from text that may quote a connection (error messages), as a last guard. */
export function withoutPassword(text: string, password: string | undefined): string {
  if (!password) return text;
  return text.split(password).join('***').split(encodeURIComponent(password)).join('***');
}

export interface ServerInfo {
  /** e.g. 170004 */
  versionNum: number;
  major: number;
  /** Tables (ordinary and partitioned) outside the system schemas. */
  tables: number;
}

/** Asks the server its version and how many tables the database holds. */
export async function inspectServer(url: string): Promise<ServerInfo> {
  const client = new pg.Client({ connectionString: url, application_name: 'task-api-db-tools', connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ version_num: number; tables: number }>(
      `SELECT current_setting('server_version_num')::int AS version_num,
              (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%') AS tables`,
    );
    const { version_num: versionNum, tables } = rows[0]!;
    return { versionNum, major: Math.floor(versionNum / 10_000), tables };
  } finally {
    await client.end();
  }
}

export interface FoundTool {
  path: string;
  major: number;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function numberedEntries(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => pattern.test(name));
  } catch {
    return [];
  }
}

/** Where PostgreSQL's client tools usually live: Debian/Ubuntu, RHEL (PGDG), Homebrew, then PATH. */
async function candidateDirs(): Promise<string[]> {
  const dirs: string[] = [];
  for (const version of await numberedEntries('/usr/lib/postgresql', /^\d+$/)) dirs.push(`/usr/lib/postgresql/${version}/bin`);
  for (const name of await numberedEntries('/usr', /^pgsql-\d+$/)) dirs.push(`/usr/${name}/bin`);
  for (const prefix of ['/opt/homebrew/opt', '/usr/local/opt']) {
    for (const name of await numberedEntries(prefix, /^(postgresql@\d+|postgresql|libpq)$/)) dirs.push(`${prefix}/${name}/bin`);
  }
  dirs.push(...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  return dirs;
}

const execFileAsync = promisify(execFile);

/** The major version a tool reports, e.g. 17 from "pg_dump (PostgreSQL) 17.4 (Debian 17.4-1)". */
async function toolMajor(file: string): Promise<number | undefined> {
  try {
    const { stdout } = await execFileAsync(file, ['--version'], { timeout: 10_000 });
    const match = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Every copy of `tool` found, each once. Debian's pg_wrapper is skipped: the versions it dispatches to are listed directly. */
export async function listPgTools(tool: PgTool, binDir?: string): Promise<FoundTool[]> {
  const found: FoundTool[] = [];
  const seen = new Set<string>();
  for (const dir of binDir ? [binDir] : await candidateDirs()) {
    const file = path.join(dir, tool);
    if (!(await isExecutable(file))) continue;
    const real = await realpath(file);
    if (seen.has(real) || path.basename(real) === 'pg_wrapper') continue;
    seen.add(real);
    const major = await toolMajor(file);
    if (major !== undefined) found.push({ path: file, major });
  }
  return found;
}

/**
 * The newest `tool` whose major version is at least `minMajor` (pg_dump refuses servers newer than
 * itself). None: a ScriptError (exit 2) naming the versions involved and what to install.
 */
export async function findPgTool(tool: PgTool, options: { minMajor?: number; binDir?: string | undefined }): Promise<FoundTool> {
  const found = await listPgTools(tool, options.binDir);
  const minMajor = options.minMajor ?? 0;
  const fitting = found.filter((t) => t.major >= minMajor).sort((a, b) => b.major - a.major);
  if (fitting[0]) return fitting[0];
  const where = options.binDir ? `in PG_BIN_DIR (${options.binDir})` : 'on PATH or in the usual places';
  const seen = found.length ? `found ${found.map((t) => `${t.major} at ${t.path}`).join(', ')}` : `found none ${where}`;
  const fix = `install postgresql-client${minMajor ? `-${minMajor}` : ''} or set PG_BIN_DIR`;
  if (!minMajor) throw new ScriptError(`${tool} is needed (${seen}); ${fix}`, 2);
  throw new ScriptError(`the database is PostgreSQL ${minMajor}; ${tool} ${minMajor} or newer is needed (${seen}); ${fix}`, 2);
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Writing to `output` failed (the tool is then stopped). */
  outputError?: Error;
}

/**
 * Runs a tool with an argument array (no shell) and extra environment. Its standard output goes to
 * `output` when given (a dump; resolved once all of it is written), otherwise it is collected.
 * Never prompts: stdin is closed.
 */
export async function runPgTool(
  file: string,
  args: string[],
  env: Record<string, string>,
  output?: Writable,
): Promise<ToolResult> {
  const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  let piped: Promise<Error | undefined> = Promise.resolve(undefined);
  if (output) {
    // A failed write must not leave the tool blocked on a full pipe.
    piped = pipeline(child.stdout, output).then(
      () => undefined,
      (err: Error) => {
        child.kill();
        return err;
      },
    );
  } else {
    child.stdout.on('data', (chunk) => (stdout += chunk));
  }
  const [code, outputError] = await Promise.all([closed, piped]);
  return { code, stdout, stderr, ...(outputError ? { outputError } : {}) };
}

/** The last meaningful line a tool wrote to stderr, without its "pg_dump: error:" prefix. */
export function lastError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.findLast((l) => /error|fatal/i.test(l)) ?? lines.at(-1) ?? 'no message';
  return line.replace(/^pg_(dump|restore):\s*(error:\s*)?/, '');
}
