import closeWithGrace from 'close-with-grace';
import { config as loadDotenv } from 'dotenv';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { openDatabaseTarget } from './db/connect.js';
import { runMigrations } from './db/migrate.js';
import { createLogger, plainLog } from './logger.js';
import { ensureAdminAccount } from './modules/users/admin-account.js';
import { resolveSecrets } from './secrets.js';

/** The process: configuration, database, migrations, the listening app and shutdown on signals. */
async function main() {
  loadDotenv({ quiet: true });
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`task-api: invalid configuration: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const appConfig = await resolveSecrets(config, (msg) => logger.warn(msg));
  const database = await openDatabaseTarget(appConfig, plainLog(logger));

  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  closeWithGrace({ delay: 10_000, logger }, async ({ err, signal }) => {
    if (err) logger.error({ err }, 'shutting down after an unexpected error');
    else logger.info({ signal }, 'shutting down');
    await app?.close();
    await database.stop();
  });

  await runMigrations(database.url);
  app = await buildApp({ ...appConfig, databaseUrl: database.url }, { loggerInstance: logger });
  if (appConfig.firstAdmin) {
    const { action, user } = await ensureAdminAccount(app.db, appConfig, appConfig.firstAdmin, { promote: false });
    if (action === 'created') logger.info({ username: user.username, id: user.id }, 'created the first admin from FIRST_ADMIN_*');
  }
  await app.listen({ host: appConfig.host, port: appConfig.port });
}

main().catch((err) => {
  console.error('task-api: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
