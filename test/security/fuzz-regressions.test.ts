import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FIELD_ERRORS } from '../../src/lib/schemas.js';
import { registerAndLogin, setupTestApp, type TestContext } from '../helpers/app.js';
import { type Response, send } from './fuzz/world.js';

/** Defects the fuzz test found, each pinned by the smallest request that showed it. */

let ctx: TestContext;
let user: Awaited<ReturnType<typeof registerAndLogin>>;

beforeAll(async () => {
  ctx = await setupTestApp();
  user = await registerAndLogin(ctx.api, 'regress');
});
afterAll(() => ctx?.close());

function expectProblem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text);
  expect(body.status).toBe(status);
  expect(typeof body.detail).toBe('string');
  return body as { detail: string };
}

describe('requests the fuzzer found answered outside the contract', () => {
  it('a path with broken percent-encoding is a 400 problem+json that does not echo the path', async () => {
    for (const path of ['/api/v1/users/%', '/api/v1/tasks/%ZZ', '/%E0%A4%A']) {
      const res = await send(ctx.baseUrl, { method: 'GET', path, headers: { authorization: `Bearer ${user.token}` } });
      const body = expectProblem(res, 400);
      expect(body.detail).not.toContain('%');
    }
  });

  it('a path segment over 200 characters is a 414 problem+json, with or without a body', async () => {
    for (const body of [undefined, '0']) {
      const res = await send(ctx.baseUrl, {
        method: 'GET',
        path: `/api/v1/tasks/${'x'.repeat(250)}`,
        headers: { authorization: `Bearer ${user.token}` },
        body,
      });
      expect(expectProblem(res, 414).detail).not.toContain('xxx');
    }
  });
});

describe('limits the OpenAPI document promises', () => {
  it('a field name thousands of characters long: the 422 keeps detail and field within the Problem schema', async () => {
    // Found by the contract check: a form body that is JSON text is one unknown field named by all of it.
    const name = `{"scope":${'['.repeat(5000)}`;
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `${encodeURIComponent(name)}&username=a&password=b`],
      ['application/json', JSON.stringify({ username: 'a', password: 'b', [name]: 1, [`${name}2`]: 2, [`${name}3`]: 3 })],
    ] as const) {
      const res = await send(ctx.baseUrl, {
        method: 'POST',
        path: '/api/v1/auth/login',
        headers: { 'content-type': type },
        body,
      });
      const problem = expectProblem(res, 422) as { detail: string; errors: { field: string }[] };
      expect(problem.detail.length, type).toBeLessThanOrEqual(2000);
      expect(problem.errors.length, type).toBeGreaterThan(0);
      for (const error of problem.errors) expect(error.field.length, type).toBeLessThanOrEqual(1000);
      expect(problem.detail, type).toContain('{"scope":[[[');
    }
  });

  it('a validation failure lists at most MAX_FIELD_ERRORS (20) field errors, however many fields are wrong', async () => {
    const body = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`unknown_${i}`, i]));
    const res = await send(ctx.baseUrl, {
      method: 'POST',
      path: '/api/v1/tasks',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x', ...body }),
    });
    expectProblem(res, 422);
    const { errors } = JSON.parse(res.text) as { errors: unknown[] };
    expect(errors.length).toBe(MAX_FIELD_ERRORS);
  });

  it('status and priority filters longer than 100 characters are refused', async () => {
    const status = Array.from({ length: 20 }, () => 'pending').join(',');
    const res = await send(ctx.baseUrl, {
      method: 'GET',
      path: `/api/v1/tasks?status=${status}`,
      headers: { authorization: `Bearer ${user.token}` },
    });
    expectProblem(res, 422);
  });
});

describe('the OpenAPI document describes what every route shares', () => {
  it('rate limits (headers, 429 with Retry-After), 401 on secured routes, 500, CORS, operation ids', async () => {
    const doc = await fetch(`${ctx.baseUrl}/openapi.json`).then((r) => r.json() as Promise<Record<string, any>>);
    const create = doc.paths['/api/v1/tasks'].post;
    expect(create.operationId).toBe('postTasks');
    expect(create.responses['201'].headers).toHaveProperty('RateLimit-Limit');
    expect(create.responses['201'].headers).toHaveProperty('Access-Control-Allow-Origin');
    expect(create.responses['429'].headers).toHaveProperty('Retry-After');
    expect(create.responses['401'].content).toHaveProperty(['application/problem+json']);
    expect(create.responses['500'].content).toHaveProperty(['application/problem+json']);
    // Health routes are not rate limited, so their responses do not claim the headers.
    expect(doc.paths['/healthz'].get.responses['200'].headers).not.toHaveProperty('RateLimit-Limit');
    expect(doc.paths['/healthz'].get.responses).not.toHaveProperty('429');
    // And what the document says is what a response carries.
    const res = await ctx.api.post('/tasks', { title: 'documented' }, { token: user.token });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});
