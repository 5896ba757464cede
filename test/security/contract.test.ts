import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitsOutOfReach, setupTestApp, type TestContext, uniqueUser } from '../helpers/app.js';
import { liveResetToken, liveVerificationToken } from '../helpers/security.js';
import { Contract, exchangeOf } from './fuzz/contract.js';
import { type Document, type JsonSchema, operationsOf } from './fuzz/openapi.js';
import type { Actor, FuzzRequest } from './fuzz/requests.js';
import { Obj, Secret, type Value } from './fuzz/values.js';
import { send, World } from './fuzz/world.js';

/**
 * Every operation in the running app's /openapi.json, called once the way the document says is
 * the least a client must send: path parameters and the body's required fields, nothing optional
 * (no query parameter, no optional header). Each must succeed, with a documented status, and the
 * exchange must keep the document (see Contract): the request valid per the document, every
 * documented response header and the body valid against their schemas. The fuzz test applies the
 * same check to every response it gets.
 */

let ctx: TestContext;
let world: World;
let doc: Document;

beforeAll(async () => {
  // Rate limits on (out of reach) so their headers are sent and checked too.
  ctx = await setupTestApp({
    rateLimit: limitsOutOfReach(),
  });
  world = new World(ctx.baseUrl, ctx.api, ctx.db.pool);
  await world.setup();
  doc = await fetch(`${ctx.baseUrl}/openapi.json`).then((r) => r.json() as Promise<Document>);
});
afterAll(() => ctx?.close());

const unique = () => randomBytes(4).toString('hex');

/** The least value a schema accepts that is also plausible (unique names, the caller's own secrets). */
function leastValue(name: string, schema: JsonSchema, fresh: boolean): Value {
  if (name === 'password' || name === 'current_password') return new Secret('password');
  // A login names the caller; a registration a new account.
  if (name === 'username' && !fresh) return new Secret('username');
  if (name === 'refresh_token') return new Secret('refresh');
  if (schema.const !== undefined) return schema.const as Value;
  if (schema.enum) return schema.enum[0] as Value;
  const options = schema.anyOf ?? schema.oneOf;
  if (options?.[0]) return leastValue(name, options[0], fresh);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      if (schema.format === 'email') return `c${unique()}@example.com`;
      // A URL (a webhook's) at a name that never resolves.
      if (schema.format === 'uri') return `https://c${unique()}.invalid/`;
      const text = `c${unique()}`.padEnd(schema.minLength ?? 1, 'c');
      return text.slice(0, schema.maxLength ?? text.length);
    }
    case 'integer':
    case 'number':
      return schema.minimum ?? 0;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      // As few items as allowed (a token's scopes: at least one).
      return Array.from({ length: schema.minItems ?? 0 }, () => leastValue(name, schema.items ?? {}, fresh));
    default:
      return leastObject(schema, fresh);
  }
}

function leastObject(schema: JsonSchema & { minProperties?: number }, fresh: boolean): Obj {
  const properties = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const chosen = properties.filter(([name]) => required.has(name));
  // A body that must change something (minProperties) gets its first optional field too.
  for (const entry of properties) {
    if (chosen.length >= (schema.minProperties ?? 0)) break;
    if (!chosen.includes(entry)) chosen.push(entry);
  }
  return new Obj(chosen.map(([name, s]) => [name, leastValue(name, s, fresh)]));
}

/** Who calls an operation: admins for admin routes, the user otherwise. */
const actorOf = (tags: string[]): Actor => (tags.includes('admin') ? 'admin' : 'user');

describe('the OpenAPI document is a contract the server keeps', () => {
  it('every operation, called with only what the document requires, succeeds and keeps the document', async () => {
    const contract = new Contract(doc);
    // Logging out (here or everywhere) ends the caller's login: last, each followed by a new login.
    const endsLogin = (path: string) => /\/logout(-all)?$/.test(path);
    const operations = operationsOf(doc).sort((a, b) => Number(endsLogin(a.path)) - Number(endsLogin(b.path)));
    expect(operations.length).toBeGreaterThanOrEqual(15);
    const failures: string[] = [];
    for (const operation of operations) {
      const tags = (doc.paths[operation.path]?.[operation.method.toLowerCase()]?.tags ?? []) as string[];
      const jsonBody = operation.body?.['application/json'];
      const request: FuzzRequest = {
        actor: actorOf(tags),
        operation,
        // The caller's own row (for an admin, the spare account's: see World).
        pathIds: Object.fromEntries(
          operation.parameters.filter((p) => p.in === 'path').map((p) => [p.name, { kind: 'own' as const, pick: 0 }]),
        ),
        query: '',
        headers: [],
        body: jsonBody ? { kind: 'json', value: leastObject(jsonBody, operation.path.endsWith('/register')) } : { kind: 'none' },
        contentType: jsonBody ? 'application/json' : undefined,
      };
      if (request.actor === 'admin' && operation.path.includes('/users/{id}'))
        request.pathIds = { id: { kind: 'other', pick: 0 } };
      if (operation.method === 'POST' && operation.path.endsWith('/members') && request.body.kind === 'json') {
        // The user to add must be one who is not a member yet (the caller owns the project): a new account.
        const joiner = uniqueUser('joiner');
        expect((await ctx.api.post('/auth/register', joiner)).status).toBe(201);
        const entries = (request.body.value as Obj).entries.map(([k, v]): [string, Value] => [
          k,
          k === 'username' ? joiner.username : v,
        ]);
        request.body = { kind: 'json', value: new Obj(entries) };
      }
      if (/\/password-reset\/confirm$|\/verify-email$/.test(operation.path) && request.body.kind === 'json') {
        const token = operation.path.endsWith('/verify-email') ? await liveVerificationToken(ctx) : await liveResetToken(ctx);
        const entries = (request.body.value as Obj).entries.map(([k, v]): [string, Value] => [k, k === 'token' ? token : v]);
        request.body = { kind: 'json', value: new Obj(entries) };
      }
      let sent = await world.build(request);
      let response = await send(ctx.baseUrl, sent);
      if (response.status === 422 && jsonBody) {
        // A rule the schema cannot state (PATCH /users/me needs email or password besides
        // current_password, as its description says): the least body with every field given.
        request.body = {
          kind: 'json',
          value: leastObject({ ...jsonBody, minProperties: Object.keys(jsonBody.properties ?? {}).length }, false),
        };
        sent = await world.build(request);
        response = await send(ctx.baseUrl, sent);
      }
      const where = `${sent.method} ${sent.path} → ${response.status} ${response.text.slice(0, 200)}`;
      if (response.status < 200 || response.status >= 300) failures.push(`not a success: ${where}`);
      if (!contract.documents({ method: sent.method, operationPath: operation.path, status: response.status }))
        failures.push(`undocumented status: ${where}`);
      for (const problem of contract.check(exchangeOf(operation.path, sent, response))) failures.push(`${problem}: ${where}`);
      if (operation.path.endsWith('/auth/refresh') && response.status === 200) {
        const pair = JSON.parse(response.text);
        const account = world.account(request.actor);
        if (account) Object.assign(account, { token: pair.access_token, refresh: pair.refresh_token });
      }
      const account = world.account(request.actor);
      if (endsLogin(operation.path) && response.status === 204 && account) await world.login(account);
    }
    expect(failures).toEqual([]);
  });

  it('GET /tasks with every query parameter at its longest: the Link header is within its documented schema', async () => {
    const contract = new Contract(doc);
    // The longest q (200 characters of three UTF-8 bytes each) and filters, with pages either side.
    const text = '\u0800'.repeat(200);
    for (let i = 0; i < 3; i++) {
      const created = await ctx.api.post('/tasks', { title: text }, { token: world.admin.token });
      expect(created.status).toBe(201);
    }
    // As many values as fit in the filters' 100 characters.
    const list = (values: string[]) => {
      let out = values[0] as string;
      for (let i = 1; out.length + 1 + (values[i % values.length] as string).length <= 100; i++)
        out += `,${values[i % values.length]}`;
      return out;
    };
    const query = new URLSearchParams({
      status: list(['pending', 'completed']),
      priority: list(['low', 'medium']),
      q: text,
      sort: '-created_at',
      user_id: String(world.admin.id),
      limit: '1',
      offset: '1',
    });
    const path = `/api/v1/tasks?${query}`;
    const headers = { authorization: `Bearer ${world.admin.token}` };
    const response = await send(ctx.baseUrl, { method: 'GET', path, headers });
    expect(response.status, response.text).toBe(200);
    const link = String(response.headers.link);
    expect(link.match(/rel="/g)?.length).toBe(4);
    expect(link.length).toBeGreaterThan(8192);
    const broken = contract.check({
      method: 'GET',
      operationPath: '/api/v1/tasks',
      path,
      headers,
      status: response.status,
      responseHeaders: response.headers,
      text: response.text,
    });
    expect(broken).toEqual([]);
  });
});
