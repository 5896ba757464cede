import { loadConfigOrExit } from '../config/process.js';
import { openDatabaseTarget } from '../db/connect.js';
import { runMigrations } from '../db/migrate.js';
import { toolConnection, withoutPassword } from '../db/pg-tools.js';
import { createLogger, plainLog } from '../logger.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
const config = loadConfigOrExit('migrate');
const logger = createLogger(config);
try {
  const database = await openDatabaseTarget(config, plainLog(logger));
  try {
    await runMigrations(database.url);
    logger.info('migrations applied');
  } finally {
    await database.stop();
  }
} catch (err) {
  // One line, like every command: no stack trace, and never the database password.
  const password = config.databaseUrl ? toolConnection(config.databaseUrl).password : undefined;
  const message = withoutPassword(err instanceof Error ? err.message : String(err), password);
  console.error(`migrate: ${message.replace(/\s*\n\s*/g, ' ').trim()}`);
  process.exitCode = 1;
}
