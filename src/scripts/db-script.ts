import { config as loadDotenv } from 'dotenv';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { type DatabaseTarget, openDatabaseTarget } from '../db/connect.js';
import { ScriptError, toolConnection, withoutPassword } from '../db/pg-tools.js';

/** What db:backup and db:restore share: configuration, the target database, one-line failures. */

/** Passwords of the connections in use: scrubbed from any message, as a last guard. */
const passwords = new Set<string>();

export function loadScriptConfig(): Config {
  loadDotenv({ quiet: true });
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new ScriptError(`invalid configuration: ${err.message}`);
    throw err;
  }
}

/**
 * `--database-url` when given; otherwise DATABASE_URL, or the embedded database: the running
 * server of a live task-api when there is one, else started for the duration of the script.
 */
export async function openScriptTarget(config: Config, databaseUrl: string | undefined): Promise<DatabaseTarget> {
  let target: DatabaseTarget;
  if (databaseUrl !== undefined) {
    let scheme: string;
    try {
      scheme = new URL(databaseUrl).protocol;
    } catch {
      throw new ScriptError('--database-url must be a postgres:// or postgresql:// URL', 2);
    }
    if (scheme !== 'postgres:' && scheme !== 'postgresql:') {
      throw new ScriptError('--database-url must be a postgres:// or postgresql:// URL', 2);
    }
    target = { url: databaseUrl, stop: async () => {} };
  } else {
    const quiet = { info: () => {}, debug: () => {}, warn: (msg: string) => console.error(`warning: ${msg}`) };
    target = await openDatabaseTarget(config, quiet, { attach: true });
  }
  const { password } = toolConnection(target.url);
  if (password) passwords.add(password);
  return target;
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
