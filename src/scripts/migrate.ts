import { config as loadDotenv } from 'dotenv';
import { loadConfig } from '../config.js';
import { openDatabaseTarget } from '../db/connect.js';
import { runMigrations } from '../db/migrate.js';
import { createLogger, plainLog } from '../logger.js';

/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
loadDotenv({ quiet: true });
const config = loadConfig();
const logger = createLogger(config);
const database = await openDatabaseTarget(config, plainLog(logger));
try {
  await runMigrations(database.url);
  logger.info('migrations applied');
} finally {
  await database.stop();
}
