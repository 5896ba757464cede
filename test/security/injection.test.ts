import { describe, expect, it } from 'vitest';
import { uniqueUser } from '../helpers/app.js';
import { describeOp, queryParams } from '../helpers/openapi.js';
import { createTask, expectProblem, send, useWorldAndOperations, validRequest } from '../helpers/security.js';

// OWASP API8:2023 / ASVS 5.0 encoding and sanitisation / REST Security cheat sheet: text is data.
// SQL is parameterised (stored and returned byte for byte), LIKE wildcards are literal, sort keys come
// from an allow-list, and markup is returned as JSON that browsers will not sniff as HTML.
const suite = useWorldAndOperations();

const PAYLOADS = [
  "' OR '1'='1",
  "'; DROP TABLE tasks; --",
  '" OR ""="',
  "1'; SELECT pg_sleep(30); --",
  "' UNION SELECT hashed_password FROM users --",
  '$1 $2 %s %n {0}',
  '\\x27 \\\\ \\0 \\n',
  '<script>alert(document.cookie)</script>',
  '"><img src=x onerror=alert(1)>',
  // A template-literal placeholder, as data: `$` then `{`.
  `{{7*7}} \${7*7} #{7*7}`,
  '../../../../etc/passwd',
  '{"$gt": ""}',
  // White space inside (a title is stored trimmed, so none at the ends).
  'ünïcödé 😀 \u2028\u2029 \t\r\n end',
];

async function tableCounts() {
  const { rows } = await suite.world.db.pool.query(
    'SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM tasks)::int AS tasks',
  );
  return rows[0];
}

describe('SQL and template metacharacters in every string field', () => {
  it('task titles and descriptions are stored and returned byte for byte, in create, read, update, list and search', async () => {
    for (const payload of PAYLOADS) {
      const created = await suite.world.api.post(
        '/tasks',
        { title: payload, description: payload },
        { token: suite.world.alice.token },
      );
      expect(created.status, payload).toBe(201);
      expect(created.body.title).toBe(payload);
      expect(created.body.description).toBe(payload);
      const read = await suite.world.api.get(`/tasks/${created.body.id}`, { token: suite.world.alice.token });
      expect(read.body.title).toBe(payload);
      const row = await suite.world.db.pool.query('SELECT title, description FROM tasks WHERE id = $1', [created.body.id]);
      expect(row.rows[0]).toEqual({ title: payload, description: payload });
      const updated = await suite.world.api.patch(
        `/tasks/${created.body.id}`,
        { description: `${payload}!` },
        { token: suite.world.alice.token },
      );
      expect(updated.body.description).toBe(`${payload}!`);
      const found = await suite.world.api.get(`/tasks?q=${encodeURIComponent(payload.slice(0, 200))}&limit=100`, {
        token: suite.world.alice.token,
      });
      expect(found.status, payload).toBe(200);
      expect(
        found.body.map((t: { id: number }) => t.id),
        payload,
      ).toContain(created.body.id);
    }
    // The search only ever found Alice's own tasks; nothing was dropped.
    expect((await tableCounts()).tasks).toBeGreaterThanOrEqual(PAYLOADS.length);
  });

  it('passwords with metacharacters register and log in exactly; emails with a quote are data too', async () => {
    for (const payload of PAYLOADS.filter((p) => p.length >= 8 && !p.includes('\u0000'))) {
      const u = { ...uniqueUser(), password: payload };
      expect((await suite.world.api.post('/auth/register', u)).status, payload).toBe(201);
      expect((await suite.world.api.post('/auth/login', { username: u.username, password: payload })).status, payload).toBe(200);
      expectProblem(await suite.world.api.post('/auth/login', { username: u.username, password: "' OR 'a'='a' --" }), 401);
    }
    const quoted = { ...uniqueUser(), email: `o'brien.${Date.now()}@example.com` };
    const res = await suite.world.api.post('/auth/register', quoted);
    expect(res.status).toBe(201);
    expect(res.body.email).toBe(quoted.email);
    expect((await suite.world.api.post('/auth/login', { username: quoted.email, password: quoted.password })).status).toBe(200);
  });

  it('the login name is compared, never interpreted: SQL in it finds no one', async () => {
    for (const payload of PAYLOADS) {
      const res = await suite.world.api.post('/auth/login', { username: payload, password: "' OR '1'='1" });
      expect([401, 422], payload).toContain(res.status);
      expectProblem(res);
    }
    for (const payload of PAYLOADS) {
      expectProblem(await suite.world.api.post('/auth/register', { ...uniqueUser(), username: payload }), 422);
    }
  });

  it('every query parameter of every route: metacharacters are a 422 or a literal match, never a 500', async () => {
    const before = await tableCounts();
    for (const op of suite.ops.filter((o) => queryParams(o).length > 0)) {
      const req = await validRequest(suite.world, op);
      for (const param of queryParams(op)) {
        for (const payload of PAYLOADS) {
          const res = await send(suite.world, op, req, { path: `${req.path}?${param.name}=${encodeURIComponent(payload)}` });
          expect([200, 422], `${describeOp(op)} ?${param.name}=${payload}: ${res.text.slice(0, 200)}`).toContain(res.status);
          if (res.status === 422) expectProblem(res);
        }
      }
    }
    expect(await tableCounts()).toEqual(before);
  });

  it('path ids and headers: SQL in an id is a 422; in Idempotency-Key and If-Match it is an opaque value', async () => {
    for (const id of ["1' OR '1'='1", '1;DROP TABLE tasks', '1 OR 1=1', '0x1', '1e3', '-1', '1.0']) {
      expectProblem(await suite.world.api.get(`/tasks/${encodeURIComponent(id)}`, { token: suite.world.alice.token }), 422);
    }
    const keyed = await suite.world.api.post(
      '/tasks',
      { title: 'k' },
      { token: suite.world.alice.token, headers: { 'idempotency-key': "'--;DROP" } },
    );
    expect(keyed.status).toBe(201);
    const task = await createTask(suite.world.api, suite.world.alice.token);
    const res = await suite.world.api.patch(
      `/tasks/${task.id}`,
      { title: 'x' },
      { token: suite.world.alice.token, headers: { 'if-match': `"' OR 1=1 --"` } },
    );
    expectProblem(res, 412);
  });
});

describe('LIKE wildcards in q are literal', () => {
  it('% and _ and \\ match only themselves, in tasks and users', async () => {
    const titles = ['100% done', '100x done', 'snake_case', 'snakeXcase', 'back\\slash', 'backslash'];
    const ids: Record<string, number> = {};
    for (const title of titles) ids[title] = (await createTask(suite.world.api, suite.world.bob.token, title)).id;
    const search = async (q: string) =>
      (await suite.world.api.get(`/tasks?q=${encodeURIComponent(q)}&limit=100`, { token: suite.world.bob.token })).body.map(
        (t: { title: string }) => t.title,
      );
    expect((await search('%')).sort()).toEqual(['100% done']);
    expect((await search('0% d')).sort()).toEqual(['100% done']);
    expect((await search('e_c')).sort()).toEqual(['snake_case']);
    expect((await search('\\')).sort()).toEqual(['back\\slash']);
    const users = await suite.world.api.get(`/users?q=${encodeURIComponent('%')}`, { token: suite.world.admin.token });
    expect(users.status).toBe(200);
    expect(users.body).toEqual([]);
    const underscore = await suite.world.api.get(`/users?q=${encodeURIComponent('_')}`, { token: suite.world.admin.token });
    expect(underscore.body.every((u: { username: string; email: string }) => `${u.username}${u.email}`.includes('_'))).toBe(true);
  });
});

describe('sort and filters come from allow-lists', () => {
  it('any sort value outside the documented keys → 422', async () => {
    const sortParam = suite.ops.flatMap((o) => queryParams(o)).find((p) => p.name === 'sort');
    expect(sortParam?.schema.enum).toContain('-created_at');
    for (const sort of [
      'title;DROP TABLE tasks',
      'title desc',
      'id',
      '-id',
      'hashed_password',
      '(select 1)',
      'title,created_at',
      '--title',
      'TITLE',
    ]) {
      const res = await suite.world.api.get(`/tasks?sort=${encodeURIComponent(sort)}`, { token: suite.world.alice.token });
      expectProblem(res, 422);
      expect(res.body.errors[0].field).toBe('sort');
    }
    for (const status of ["pending' OR '1'='1", 'pending,', 'PENDING', 'pending;completed']) {
      expectProblem(
        await suite.world.api.get(`/tasks?status=${encodeURIComponent(status)}`, { token: suite.world.alice.token }),
        422,
      );
    }
  });
});

describe('markup is data', () => {
  it('comes back inside JSON with Content-Type application/json and nosniff, on reads, lists and errors', async () => {
    const html = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const created = await suite.world.api.post('/tasks', { title: html, description: html }, { token: suite.world.alice.token });
    const responses = [
      created,
      await suite.world.api.get(`/tasks/${created.body.id}`, { token: suite.world.alice.token }),
      await suite.world.api.get('/tasks?limit=1', { token: suite.world.alice.token }),
    ];
    for (const res of responses) {
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.text).toContain(JSON.stringify(html));
    }
    // A request that echoes nothing back: the error for a bad field names the field, not the value.
    const error = await suite.world.api.post('/tasks', { title: html, [html]: 1 }, { token: suite.world.alice.token });
    expectProblem(error, 422);
    expect(error.headers.get('x-content-type-options')).toBe('nosniff');
    expect(error.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
