import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findPgTool, inspectServer, lastError, runPgTool, ScriptError, toolConnection } from '../db/pg-tools.js';
import { loadScriptConfig, openScriptTarget, runDbScript } from './db-script.js';

const USAGE = `usage: npm run db:backup [-- [FILE] [--database-url URL | --database NAME]]

Writes a pg_dump archive (custom format) of the configured database (DATABASE_URL, or the embedded
one) to FILE, by default backups/task-api-<UTC time>.dump, readable by its owner only.
--database-url backs up that database instead; --database another database on the configured server. Restore with: npm run db:restore -- FILE`;

/** backups/task-api-20261202T010509Z.dump */
function defaultFile(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return path.join('backups', `task-api-${stamp}.dump`);
}

let args: { values: { 'database-url'?: string; database?: string; help?: boolean }; positionals: string[] };
try {
  args = parseArgs({
    options: { 'database-url': { type: 'string' }, database: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (args.positionals.length > 1) throw new Error('at most one FILE');
} catch (err) {
  console.error(`db:backup: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}

await runDbScript('db:backup', async () => {
  const config = loadScriptConfig();
  const file = path.resolve(args.positionals[0] ?? defaultFile());
  if (existsSync(file)) throw new ScriptError(`${file} already exists; give another FILE`);
  const target = await openScriptTarget(config, { databaseUrl: args.values['database-url'], database: args.values.database });
  try {
    const server = await inspectServer(target.url);
    const pgDump = await findPgTool('pg_dump', { minMajor: server.major, binDir: config.pgBinDir });
    const connection = toolConnection(target.url);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written beside the target and renamed when complete: a failed backup leaves no file that looks whole.
    const partial = `${file}.partial`;
    await rm(partial, { force: true });
    const output = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    await once(output, 'open');
    const result = await runPgTool(
      pgDump.path,
      ['--format=custom', '--no-password', `--dbname=${connection.dbname}`],
      connection.env,
      output,
    );
    if (result.code !== 0 || result.outputError) {
      await rm(partial, { force: true });
      if (result.outputError) throw new ScriptError(`cannot write ${partial}: ${result.outputError.message}`);
      throw new ScriptError(`pg_dump ${pgDump.major} failed on the ${connection.label}: ${lastError(result.stderr)}`);
    }
    await rename(partial, file);
    const { size } = await stat(file);
    console.log(
      `db:backup: wrote ${file} (${size} bytes) from the ${connection.label} (PostgreSQL ${server.major}, pg_dump ${pgDump.major})`,
    );
  } finally {
    await target.stop();
  }
});
