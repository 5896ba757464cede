import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openApiDocument } from './openapi-document.js';

/**
 * `node --import tsx src/scripts/openapi.ts [file]` (what `npm run lint:openapi` runs first): writes
 * the OpenAPI document to a file (default .tmp/openapi.json), for linting and for clients.
 */
const target = path.resolve(process.argv[2] ?? '.tmp/openapi.json');
const document = await openApiDocument();
await mkdir(path.dirname(target), { recursive: true });
await writeFile(target, `${JSON.stringify(document, null, 2)}\n`);
console.log(`task-api: OpenAPI document written to ${path.relative(process.cwd(), target) || target}`);
