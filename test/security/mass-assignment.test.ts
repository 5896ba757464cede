import { describe, expect, it } from 'vitest';
import { uniqueUser } from '../helpers/app.js';
import { describeOp } from '../helpers/openapi.js';
import { expectProblem, send, useWorldAndOperations, validRequest } from '../helpers/security.js';

// OWASP API3:2023 (broken object property level authorisation, formerly mass assignment): the documented
// contract is that a body with any field it does not declare is a 422 naming that field; nothing is applied.
const suite = useWorldAndOperations();

/** Fields a client must never set: identities, ownership, privileges, server-kept state and secrets. */
const PROTECTED = [
  'id',
  'user_id',
  'owner_id',
  'role',
  'is_active',
  'is_admin',
  'admin',
  'created_at',
  'updated_at',
  'completed_at',
  'version',
  'hashed_password',
  'password_hash',
  'session_id',
  'sid',
  'sub',
  'token_version',
];

const withBody = () => suite.ops.filter((op) => Object.keys(op.bodies).length > 0);

describe('every request body in /openapi.json', () => {
  it('declares its fields and refuses any other (additionalProperties: false), in every media type', () => {
    expect(withBody().length).toBeGreaterThanOrEqual(7);
    for (const op of withBody()) {
      for (const [type, schema] of Object.entries(op.bodies)) {
        expect(schema.type, `${describeOp(op)} ${type}`).toBe('object');
        expect(schema.additionalProperties, `${describeOp(op)} ${type}`).toBe(false);
      }
    }
  });

  it('a protected field it does not declare → 422 naming the field, and the valid request alone succeeds', async () => {
    for (const op of withBody()) {
      const declared = Object.keys(op.bodies['application/json']?.properties ?? {});
      for (const field of PROTECTED.filter((f) => !declared.includes(f))) {
        const req = await validRequest(suite.world, op);
        const res = await send(suite.world, op, req, { body: { ...req.body, [field]: field.endsWith('id') ? 1 : 'admin' } });
        expectProblem(res, 422);
        expect(res.body.errors, `${describeOp(op)} + ${field}`).toContainEqual({
          location: 'body',
          field,
          message: 'unknown field',
        });
      }
      const control = await send(suite.world, op, await validRequest(suite.world, op));
      expect(control.status, `${describeOp(op)}: ${control.text}`).toBeLessThan(300);
    }
  });

  it('prototype-polluting keys are refused (400 or 422) on every body', async () => {
    for (const op of withBody()) {
      const req = await validRequest(suite.world, op);
      const base = JSON.stringify(req.body).slice(0, -1);
      for (const extra of ['"__proto__":{"role":"admin"}', '"constructor":{"prototype":{"role":"admin"}}']) {
        const res = await send(suite.world, op, req, { raw: `${base},${extra}}` });
        expect([400, 422], `${describeOp(op)} ${extra}: ${res.text}`).toContain(res.status);
        expectProblem(res);
      }
    }
    expect(({} as Record<string, unknown>).role).toBeUndefined();
  });
});

describe('nothing is applied from a refused body', () => {
  it('registering with role admin or is_active creates no user', async () => {
    const u = uniqueUser('massreg');
    expectProblem(await suite.world.api.post('/auth/register', { ...u, role: 'admin' }), 422);
    expectProblem(await suite.world.api.post('/auth/register', { ...u, is_active: true, id: 1 }), 422);
    const rows = await suite.world.db.pool.query('SELECT 1 FROM users WHERE username = $1', [u.username]);
    expect(rows.rowCount).toBe(0);
    const ok = await suite.world.api.post('/auth/register', u);
    expect(ok.status).toBe(201);
    expect(ok.body.role).toBe('user');
  });

  it('a user cannot make themselves admin or reactivate themselves through PATCH /users/me', async () => {
    const before = (await suite.world.db.pool.query('SELECT role, email FROM users WHERE id = $1', [suite.world.alice.id]))
      .rows[0];
    const res = await suite.world.api.patch(
      '/users/me',
      { email: uniqueUser().email, current_password: suite.world.alice.password, role: 'admin' },
      { token: suite.world.alice.token },
    );
    expectProblem(res, 422);
    const row = await suite.world.db.pool.query('SELECT role, email FROM users WHERE id = $1', [suite.world.alice.id]);
    expect(row.rows[0]).toEqual(before);
    expect(before.role).toBe('user');
  });

  it('a task cannot be created for another user or with chosen ids and timestamps', async () => {
    const before = (await suite.world.db.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n;
    for (const extra of [
      { user_id: suite.world.bob.id },
      { id: 999_999 },
      { created_at: '2000-01-01T00:00:00Z' },
      { version: 99 },
    ]) {
      expectProblem(await suite.world.api.post('/tasks', { title: 'x', ...extra }, { token: suite.world.alice.token }), 422);
    }
    expect((await suite.world.db.pool.query('SELECT count(*)::int AS n FROM tasks')).rows[0].n).toBe(before);
  });

  it('the login form (OAuth2) takes no extra fields either', async () => {
    const form = new URLSearchParams({
      username: suite.world.alice.username,
      password: suite.world.alice.password,
      role: 'admin',
    });
    const res = await suite.world.api.post('/auth/login', undefined, {
      raw: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectProblem(res, 422);
  });
});
