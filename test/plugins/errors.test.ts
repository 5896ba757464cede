import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { httpClient } from '../helpers/http.js';

let db: TestDatabase;
let t: TestApp;
beforeAll(async () => {
  db = await createTestDatabase();
  t = await startApp(testConfig(db.url, { bodyLimitBytes: 4096 }), (app) => {
    // A route that fails the way a bug would, to see what a 500 reveals.
    app.get('/test/boom', async () => {
      throw new Error('connect ECONNREFUSED /var/lib/secret.sock SELECT * FROM users');
    });
  });
});
afterAll(async () => {
  await t.close();
  await db.drop();
});

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'about:blank', status });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.detail).toBe('string');
}

describe('errors are problem+json with the right status', () => {
  it('malformed JSON → 400', async () => {
    const res = await t.api.post('/auth/register', undefined, {
      raw: '{"username": "ada",',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400);
  });

  it('an empty JSON body → 400', async () => {
    const res = await t.api.post('/auth/register', undefined, { raw: '', headers: { 'content-type': 'application/json' } });
    expectProblem(res, 400);
  });

  it('prototype poisoning in JSON → 400', async () => {
    const res = await t.api.post('/auth/register', undefined, {
      raw: '{"username":"ada","__proto__":{"role":"admin"}}',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400);
  });

  it('a body over the limit → 413', async () => {
    const res = await t.api.post('/auth/register', { username: 'ada', email: 'a@example.com', password: 'x'.repeat(5000) });
    expectProblem(res, 413);
  });

  it('an unsupported content type → 415', async () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const res = await t.api.post('/auth/register', undefined, { raw: 'username=ada', headers: { 'content-type': type } });
      expectProblem(res, 415);
    }
  });

  it('a JSON body that is not an object → 422', async () => {
    const res = await t.api.post('/auth/register', ['ada']);
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([{ location: 'body', field: '', message: 'must be object' }]);
  });

  it('an unknown route → 404', async () => {
    expectProblem(await t.api.get('/nope'), 404);
    expectProblem(await httpClient(t.baseUrl).get('/also/nope'), 404);
  });

  it('a known route with the wrong method → 405 with Allow', async () => {
    const res = await t.api.delete('/users/me');
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, PATCH');
    const login = await t.api.get('/auth/login');
    expectProblem(login, 405);
    expect(login.headers.get('allow')).toBe('POST');
  });

  it('a 500 reveals no message, stack, SQL or path', async () => {
    const res = await httpClient(t.baseUrl).get('/test/boom');
    expectProblem(res, 500);
    expect(res.body.detail).toBe('Internal server error');
    expect(res.text).not.toMatch(/ECONNREFUSED|secret|SELECT|\/var\/|at .*\.ts|stack/i);
  });
});

describe('what an error may put in a log line', () => {
  it('never the parameters of a failed query (a hash, an email, a token digest)', async () => {
    const { createDatabase, createPool } = await import('../../src/db/pool.js');
    const { sql } = await import('drizzle-orm');
    const { loggable } = await import('../../src/db/errors.js');
    const pool = createPool(db.url, { max: 1 });
    try {
      const error = await createDatabase(pool)
        .execute(sql`SELECT ${'$2b$12$secret-hash-value'}::int`)
        .catch((err: unknown) => err);
      expect(String((error as Error).message)).toContain('secret-hash-value'); // what Drizzle would have logged
      const logged = JSON.stringify(loggable(error));
      expect(logged).not.toContain('secret-hash-value');
      expect(loggable(error).code).toBe('22P02');
    } finally {
      await pool.end();
    }
  });
});
