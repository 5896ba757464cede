import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findPgTool, inspectServer, lastError, runPgTool, ScriptError, toolConnection } from '../db/pg-tools.js';
import { loadScriptConfig, openScriptTarget, runDbScript } from './db-script.js';

const USAGE = `usage: npm run db:restore -- FILE [--yes] [--database-url URL | --database NAME]

Restores a backup made by db:backup into the configured database (DATABASE_URL, or the embedded one),
into the database given by --database-url, or into database NAME on the configured server, created
when missing: --database task_api_check restores into a scratch database, to check a backup.
The objects in the backup replace those of the same name, in one transaction: on any error nothing
changes. A database that already has tables is only restored into with --yes.`;

let args: { values: { 'database-url'?: string; database?: string; yes?: boolean; help?: boolean }; positionals: string[] };
try {
  args = parseArgs({
    options: {
      'database-url': { type: 'string' },
      database: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
} catch (err) {
  console.error(`db:restore: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.positionals.length !== 1) {
  console.error(`db:restore: one FILE is needed\n${USAGE}`);
  process.exit(2);
}

async function checkReadable(file: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
    if (!(await stat(file)).isFile()) throw new ScriptError(`${file} is not a file`);
  } catch (err) {
    if (err instanceof ScriptError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ScriptError(
      `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code}`,
    );
  }
}

await runDbScript('db:restore', async () => {
  // An absolute path: a FILE starting with "-" can never be taken for an option of pg_restore.
  const file = path.resolve(args.positionals[0]!);
  await checkReadable(file);
  const config = loadScriptConfig();

  // The archive is checked before anything touches a database.
  const reader = await findPgTool('pg_restore', { binDir: config.pgBinDir });
  const listing = await runPgTool(reader.path, ['--list', file], {});
  if (listing.code !== 0) {
    throw new ScriptError(`${file} is not a backup pg_restore ${reader.major} can read: ${lastError(listing.stderr)}`);
  }

  const target = await openScriptTarget(config, {
    databaseUrl: args.values['database-url'],
    database: args.values.database,
    create: true,
  });
  try {
    const server = await inspectServer(target.url);
    const pgRestore = await findPgTool('pg_restore', { minMajor: server.major, binDir: config.pgBinDir });
    const connection = toolConnection(target.url);
    if (server.tables > 0 && !args.values.yes) {
      throw new ScriptError(
        `the ${connection.label} already has ${server.tables} tables; the backup would replace its contents. Add --yes to go ahead`,
      );
    }
    // --clean --if-exists: drop what the backup recreates, quietly when absent. --no-owner, --no-privileges:
    // objects belong to the connecting role, so a backup restores into a server with other role names.
    // --single-transaction: all or nothing (it implies --exit-on-error).
    const result = await runPgTool(
      pgRestore.path,
      [
        '--clean',
        '--if-exists',
        '--no-owner',
        '--no-privileges',
        '--single-transaction',
        '--no-password',
        `--dbname=${connection.dbname}`,
        file,
      ],
      connection.env,
    );
    if (result.code !== 0) {
      throw new ScriptError(`pg_restore ${pgRestore.major} failed, nothing was changed: ${lastError(result.stderr)}`);
    }
    const after = await inspectServer(target.url);
    const created = target.created ? ', created for it' : '';
    console.log(
      `db:restore: restored ${file} into the ${connection.label}${created} (${after.tables} tables, pg_restore ${pgRestore.major})`,
    );
  } finally {
    await target.stop();
  }
});
