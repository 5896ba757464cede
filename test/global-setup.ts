import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
    runId: string;
  }
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * One PostgreSQL for the run: TEST_DATABASE_URL when set, otherwise an embedded one. Migrations are
 * applied once to a template database; each test file then gets its own copy of it.
 */
export default async function setup(project: TestProject) {
  const runId = randomBytes(4).toString('hex');
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  const dir = path.join(os.tmpdir(), `task-api-test-${runId}`);
  if (!adminUrl) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const quiet = { info: () => {}, debug: () => {}, warn: (m: string) => console.warn(m) };
    embedded = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true, log: quiet });
    adminUrl = embedded.adminUrl;
  }
  const templateDb = `task_api_tpl_${runId}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${templateDb}`);
  await runMigrations(databaseUrl(adminUrl, templateDb));

  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);
  project.provide('runId', runId);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `task_api_%${runId}%`,
    ]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
