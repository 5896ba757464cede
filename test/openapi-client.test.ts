import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedDocument } from './helpers/openapi.js';

/**
 * A client generated from /openapi.json, as a consumer would make one (openapi-typescript for the
 * types, openapi-fetch for the calls), must compile for the calls the README shows: a list without
 * any query parameter is the first call anyone writes.
 */
let dir: string;
beforeAll(async () => {
  // Inside the project, so the generated client resolves openapi-fetch from node_modules.
  await mkdir('.tmp', { recursive: true });
  dir = await mkdtemp(path.resolve('.tmp/openapi-client-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const CLIENT = `import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const client = createClient<paths>({ baseUrl: 'http://localhost:8000' });

export async function calls(): Promise<number> {
  // Every parameter with a default left out.
  const tasks = await client.GET('/api/v1/tasks');
  const users = await client.GET('/api/v1/users');
  // And some given.
  const page = await client.GET('/api/v1/tasks', { params: { query: { status: 'pending', limit: 5 } } });
  const sorted = await client.GET('/api/v1/tasks', { params: { query: { sort: '-priority', offset: 10 } } });
  const one = await client.GET('/api/v1/tasks/{id}', { params: { path: { id: 1 } } });
  const created = await client.POST('/api/v1/tasks', { body: { title: 'Write the report' } });
  return (tasks.data?.length ?? 0) + (users.data?.length ?? 0) + (page.data?.length ?? 0) + (sorted.data?.length ?? 0)
    + (one.data?.id ?? 0) + (created.data?.id ?? 0);
}
`;

describe('a client generated from the OpenAPI document', () => {
  it('compiles client.GET("/api/v1/tasks") and client.GET("/api/v1/users") without query parameters', async () => {
    const schema = astToString(await openapiTS(await generatedDocument()));
    await writeFile(path.join(dir, 'schema.d.ts'), schema);
    await writeFile(path.join(dir, 'client.ts'), CLIENT);
    const program = ts.createProgram([path.join(dir, 'client.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2023,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(errors).toEqual([]);
  }, 60_000);
});
