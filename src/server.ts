import cluster from 'node:cluster';
import { runPrimary } from './cluster.js';
import { loadConfigOrExit } from './config/process.js';
import type { AppConfig } from './config.js';
import { openDatabaseTarget } from './db/connect.js';
import { runMigrations } from './db/migrate.js';
import { createDatabase, createPool } from './db/pool.js';
import { createLogger, plainLog } from './logger.js';
import { ensureAdminAccount } from './modules/users/admin-account.js';
import { resolveSecrets } from './secrets.js';

/** The app and its plugins are loaded only where they serve: a cluster's primary never loads them. */
const loadServe = async () => (await import('./serve.js')).serve;

/** The process: configuration, database, migrations, first admin, then one server or a cluster of workers. */
async function main() {
  const config = loadConfigOrExit('task-api');
  const logger = createLogger(config);
  const resolved = await resolveSecrets(config, (msg) => logger.warn(msg));

  // A worker gets a ready database from its primary, in DATABASE_URL (see cluster.ts).
  if (cluster.isWorker) {
    if (resolved.databaseUrl === undefined) throw new Error('a worker needs DATABASE_URL from its primary');
    await (await loadServe())({ ...resolved, databaseUrl: resolved.databaseUrl }, logger);
    return;
  }

  // From here on the database's URL is known (DATABASE_URL or the embedded server's): AppConfig carries it.
  const database = await openDatabaseTarget(resolved, plainLog(logger));
  try {
    await runMigrations(database.url);
    if (resolved.firstAdmin) {
      const pool = createPool(database.url, { max: 1 });
      try {
        const { action, user } = await ensureAdminAccount(createDatabase(pool), resolved, resolved.firstAdmin, {
          promote: false,
        });
        if (action === 'created')
          logger.info({ username: user.username, id: user.id }, 'created the first admin from FIRST_ADMIN_*');
      } finally {
        await pool.end();
      }
    }
  } catch (err) {
    await database.stop();
    throw err;
  }

  const ready: AppConfig = { ...resolved, databaseUrl: database.url };
  if (ready.workers > 1) {
    runPrimary(ready, database, logger);
    return;
  }
  await (await loadServe())(ready, logger, database.stop);
}

main().catch((err) => {
  console.error('task-api: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
