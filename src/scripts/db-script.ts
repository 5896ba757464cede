import pg from 'pg';
import { loadEnvFile } from '../config/process.js';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { type DatabaseTarget, openDatabaseTarget } from '../db/connect.js';
import { ScriptError, toolConnection, withoutPassword } from '../db/pg-tools.js';

/** What db:backup and db:restore share: configuration, the target database, one-line failures. */

/** Passwords of the connections in use: scrubbed from any message, as a last guard. */
const passwords = new Set<string>();

export function loadScriptConfig(): Config {
  try {
    loadEnvFile();
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new ScriptError(`invalid configuration: ${err.message}`);
    throw err;
  }
}

export interface TargetOptions {
  /** --database-url: another database altogether. */
  databaseUrl?: string | undefined;
  /** --database: another database on the configured server, with the same credentials. */
  database?: string | undefined;
  /** Create the --database one when it does not exist (a scratch database to check a backup in). */
  create?: boolean;
}

function checkedUrl(databaseUrl: string): string {
  let scheme: string | undefined;
  try {
    scheme = new URL(databaseUrl).protocol;
  } catch {}
  if (scheme !== 'postgres:' && scheme !== 'postgresql:') {
    throw new ScriptError('--database-url must be a postgres:// or postgresql:// URL', 2);
  }
  return databaseUrl;
}

async function createIfMissing(url: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, application_name: 'task-api-db-tools' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

/**
 * `--database-url` when given; otherwise DATABASE_URL, or the embedded database: the running
 * server of a live task-api when there is one, else started for the duration of the script.
 * `--database NAME` then switches to another database on that server.
 */
export async function openScriptTarget(config: Config, options: TargetOptions): Promise<DatabaseTarget & { created: boolean }> {
  if (options.databaseUrl !== undefined && options.database !== undefined) {
    throw new ScriptError('give --database-url or --database, not both', 2);
  }
  if (options.database !== undefined && !/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(options.database)) {
    throw new ScriptError('--database must be a database name: letters, digits, _ and -, at most 63', 2);
  }
  let target: DatabaseTarget;
  if (options.databaseUrl !== undefined) {
    target = { url: checkedUrl(options.databaseUrl), stop: async () => {} };
  } else {
    const quiet = { info: () => {}, debug: () => {}, warn: (msg: string) => console.error(`warning: ${msg}`) };
    target = await openDatabaseTarget(config, quiet, { attach: true });
  }
  const { password } = toolConnection(target.url);
  if (password) passwords.add(password);
  if (options.database === undefined) return { ...target, created: false };
  try {
    const created = options.create ? await createIfMissing(target.url, options.database) : false;
    const other = new URL(target.url);
    other.pathname = `/${encodeURIComponent(options.database)}`;
    return { url: other.toString(), stop: target.stop, created };
  } catch (err) {
    await target.stop();
    throw err;
  }
}

/** Runs a script's body; a failure is one line on stderr (never a stack trace) and a non-zero exit code. */
export async function runDbScript(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    for (const password of passwords) message = withoutPassword(message, password);
    console.error(`${name}: ${message.replace(/\s*\n\s*/g, ' ').trim()}`);
    process.exitCode = err instanceof ScriptError ? err.exitCode : 1;
  }
}
