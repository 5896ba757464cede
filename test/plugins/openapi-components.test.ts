import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAjv } from '../../src/lib/ajv.js';
import { nameComponents } from '../../src/plugins/openapi-components.js';
import { generatedDocument, requestBodyOf } from '../helpers/openapi.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
/** The names the issue promised generators, at least. */
const NAMED = [
  'Task',
  'TaskList',
  'User',
  'UserList',
  'Project',
  'ProjectList',
  'Member',
  'MemberList',
  'Label',
  'LabelList',
  'Problem',
  'ValidationProblem',
  'Session',
  'SessionList',
  'AccessToken',
  'AccessTokenList',
];
const NAMED_REQUESTS = [
  'TaskCreate',
  'TaskUpdate',
  'ProjectCreate',
  'ProjectUpdate',
  'MemberCreate',
  'MemberUpdate',
  'LoginRequest',
];

let doc: any;
beforeAll(async () => {
  doc = await generatedDocument();
});

/** Every media type of every body: [where, media]. */
function bodies(only2xx = false): Array<[string, any]> {
  const out: Array<[string, any]> = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      for (const [type, media] of Object.entries<any>(requestBodyOf(op, doc)?.content ?? {})) {
        out.push([`${method} ${path} request ${type}`, media]);
      }
      for (const [status, response] of Object.entries<any>(op.responses ?? {})) {
        if (only2xx && !status.startsWith('2')) continue;
        for (const [type, media] of Object.entries<any>(response.content ?? {})) {
          out.push([`${method} ${path} ${status} ${type}`, media]);
        }
      }
    }
  }
  return out;
}

describe('the OpenAPI document, for client generators', () => {
  it('names every body: responses by a $ref to a schema, requests by a $ref to a named request body', () => {
    const responses = bodies().filter(([where]) => !where.includes(' request '));
    expect(responses.length).toBeGreaterThan(100);
    const inline = responses.filter(([, media]) => typeof media.schema?.$ref !== 'string').map(([where]) => where);
    expect(inline).toEqual([]);
    for (const [where, media] of responses) {
      expect(doc.components.schemas[media.schema.$ref.replace('#/components/schemas/', '')], where).toBeDefined();
    }
    const unnamedRequests: string[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const method of METHODS) {
        const requestBody = item[method]?.requestBody;
        if (requestBody === undefined) continue;
        const name = typeof requestBody.$ref === 'string' ? requestBody.$ref.replace('#/components/requestBodies/', '') : '';
        const named = doc.components.requestBodies[name];
        // The schema inside carries the same name, for generators that name types by title.
        const titled = named && Object.values<any>(named.content).every((media) => media.schema.title === name);
        if (!titled) unnamedRequests.push(`${method} ${path}`);
      }
    }
    expect(unnamedRequests).toEqual([]);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(NAMED));
    expect(Object.keys(doc.components.requestBodies)).toEqual(expect.arrayContaining(NAMED_REQUESTS));
    // Nested named schemas are references too (a login's user, a list's items, a problem's field errors).
    expect(doc.components.schemas.LoginResponse.properties.user).toEqual({ $ref: '#/components/schemas/User' });
    expect(doc.components.schemas.TaskList.items).toEqual({ $ref: '#/components/schemas/Task' });
    expect(doc.components.schemas.ValidationProblem.properties.errors.items).toEqual({
      $ref: '#/components/schemas/FieldError',
    });
  });

  it('a 422 is a ValidationProblem (errors required), every other error a Problem', () => {
    for (const [where, media] of bodies()) {
      const [, , status, type] = where.split(' ');
      if (!status || !/^[45]/.test(status) || type !== 'application/problem+json') continue;
      expect(media.schema.$ref, where).toBe(`#/components/schemas/${status === '422' ? 'ValidationProblem' : 'Problem'}`);
    }
    expect(doc.components.schemas.ValidationProblem.required).toContain('errors');
  });

  it('info.version is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(doc.info.version).toBe(pkg.version);
  });

  it('every request body and success response has an example, and each example is valid against its schema', () => {
    const ajv = createAjv({ useDefaults: false });
    ajv.addSchema({ $id: 'document', components: doc.components });
    const checked = bodies(true);
    expect(checked.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const [where, media] of checked) {
      if (media.example === undefined) {
        problems.push(`${where}: no example`);
        continue;
      }
      const schema = JSON.parse(JSON.stringify(media.schema).replaceAll('"#/components/', '"document#/components/'));
      if (!ajv.validate(schema, media.example)) problems.push(`${where}: ${ajv.errorsText(ajv.errors)}`);
    }
    expect(problems).toEqual([]);
  });

  it('two different schemas under one name are refused when the document is built', () => {
    const body = (schema: object) => ({ content: { 'application/json': { schema } } });
    const twice: any = {
      paths: {
        '/a': { get: { responses: { 200: body({ title: 'Thing', type: 'string' }) } } },
        '/b': { get: { responses: { 200: body({ title: 'Thing', type: 'integer' }) } } },
      },
    };
    expect(() => nameComponents(twice)).toThrow('two different schemas are both named Thing');
    const same = structuredClone(twice);
    same.paths['/b'].get.responses[200] = body({ title: 'Thing', type: 'string' });
    expect(nameComponents(same).components.schemas.Thing).toEqual({ title: 'Thing', type: 'string' });
  });
});
