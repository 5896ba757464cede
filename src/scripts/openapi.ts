import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';

/**
 * `node --import tsx src/scripts/openapi.ts [file]` (what `npm run lint:openapi` runs first): writes
 * the OpenAPI document to a file (default .tmp/openapi.json), for linting and for clients. The app
 * is built but never listens, and nothing connects to a database: the pool connects lazily, and no
 * query runs while the document is generated.
 */
const target = path.resolve(process.argv[2] ?? '.tmp/openapi.json');
const config = {
  ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'true' }),
  // Never reached: the document is generated from route schemas alone.
  databaseUrl: 'postgres://openapi@127.0.0.1:1/openapi',
  jwtSecret: 'x'.repeat(32),
  passwordPepper: 'x'.repeat(32),
};
const app = await buildApp(config);
await app.ready();
const document = app.swagger();
await mkdir(path.dirname(target), { recursive: true });
await writeFile(target, `${JSON.stringify(document, null, 2)}\n`);
await app.close();
console.log(`task-api: OpenAPI document written to ${path.relative(process.cwd(), target) || target}`);
