/**
 * How long the migrations since a given one take on a database that already holds many tasks, and
 * whether any of them rewrote the tasks table. A scratch database is migrated up to `after` (from a
 * copy of migrations/ whose journal stops there), seeded, then taken forward one migration at a time.
 * A rewrite (ALTER TABLE … SET DATA TYPE, a volatile DEFAULT) gives the table a new file: its
 * relfilenode changes.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { seed } from './seed.js';

const MIGRATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations');

interface Journal {
  entries: Array<{ idx: number; tag: string }>;
}

export interface MigrationTiming {
  tag: string;
  seconds: number;
  /** The tasks table got a new file (the migration rewrote it). */
  rewroteTasks: boolean;
}

/** A copy of migrations/ whose journal ends with `lastTag`: the migrator applies only up to it. */
async function folderUpTo(root: string, journal: Journal, lastTag: string): Promise<string> {
  const dir = path.join(root, lastTag);
  await cp(MIGRATIONS, dir, { recursive: true });
  const upTo = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === lastTag) + 1);
  await writeFile(path.join(dir, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: upTo }));
  return dir;
}

async function migrateWith(databaseUrl: string, folder: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: folder });
  } finally {
    await client.end();
  }
}

async function tasksFile(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ file: string }>("SELECT pg_relation_filenode('tasks')::text AS file");
    return rows[0]?.file as string;
  } finally {
    await client.end();
  }
}

/**
 * Seeds `users` × `tasksPerUser` tasks on the schema as of migration `after`, then times each later
 * migration. `databaseUrl` names an empty scratch database.
 */
export async function timeMigrations(
  databaseUrl: string,
  options: { after: string; users: number; tasksPerUser: number; hash: string },
): Promise<{ seeded: number; timings: MigrationTiming[] }> {
  const journal = JSON.parse(await readFile(path.join(MIGRATIONS, 'meta/_journal.json'), 'utf8')) as Journal;
  const start = journal.entries.findIndex((e) => e.tag === options.after);
  if (start < 0) throw new Error(`no migration ${options.after}`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'task-api-migrations-'));
  try {
    await migrateWith(databaseUrl, await folderUpTo(root, journal, options.after));
    await seed(databaseUrl, { users: options.users, tasksPerUser: options.tasksPerUser, hash: options.hash });
    const timings: MigrationTiming[] = [];
    for (const entry of journal.entries.slice(start + 1)) {
      const folder = await folderUpTo(root, journal, entry.tag);
      const before = await tasksFile(databaseUrl);
      const began = performance.now();
      await migrateWith(databaseUrl, folder);
      timings.push({
        tag: entry.tag,
        seconds: (performance.now() - began) / 1000,
        rewroteTasks: (await tasksFile(databaseUrl)) !== before,
      });
    }
    return { seeded: options.users * options.tasksPerUser, timings };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
