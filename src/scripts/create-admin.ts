import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/process.js';
import { openDatabaseTarget } from '../db/connect.js';
import { runMigrations } from '../db/migrate.js';
import { createDatabase, createPool } from '../db/pool.js';
import { AppError } from '../lib/errors.js';
import { createLogger, plainLog } from '../logger.js';
import { ensureAdminAccount } from '../modules/users/admin-account.js';
import { resolveSecrets } from '../secrets.js';

const USAGE = `usage: npm run create-admin -- --username NAME --email EMAIL (--password PASSWORD | --password-stdin)

Creates an admin, or makes the existing user with that username an active admin (its password is
kept). --password-stdin reads the password from standard input, keeping it out of shell history.`;

function fail(message: string, code: number): never {
  console.error(`create-admin: ${message}`);
  process.exit(code);
}

let args: { username?: string; email?: string; password?: string; 'password-stdin'?: boolean; help?: boolean };
try {
  args = parseArgs({
    options: {
      username: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const password = args['password-stdin'] ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : args.password;
if (!args.username || !args.email || !password) fail(`--username, --email and a password are required\n${USAGE}`, 2);

const config = loadConfigOrExit('create-admin');
const logger = createLogger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
const appConfig = await resolveSecrets(config, (m) => logger.warn(m));
const target = await openDatabaseTarget(appConfig, plainLog(logger), { attach: true });
const pool = createPool(target.url, { max: 2, applicationName: 'task-api-create-admin' });
try {
  await runMigrations(target.url);
  const { user, action } = await ensureAdminAccount(
    createDatabase(pool),
    appConfig,
    { username: args.username, email: args.email, password },
    { promote: true },
  );
  console.log(`create-admin: ${action} admin "${user.username}" (id ${user.id})`);
} catch (err) {
  process.exitCode = 1;
  console.error(`create-admin: ${err instanceof AppError ? err.message : (err as Error).message}`);
} finally {
  await pool.end();
  await target.stop();
}
