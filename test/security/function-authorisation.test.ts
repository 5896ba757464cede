import { describe, expect, it } from 'vitest';
import { registerAndLogin } from '../helpers/app.js';
import { describeOp, isAdminRoute } from '../helpers/openapi.js';
import { expectProblem, send, useWorldAndOperations, validRequest } from '../helpers/security.js';

// OWASP API5:2023 (broken function-level authorisation): every route the OpenAPI document tags `admin`
// is refused to anonymous callers, users, deactivated and demoted admins; the tag is checked against behaviour.
const suite = useWorldAndOperations();

const bobState = async () =>
  (await suite.world.db.pool.query('SELECT role, is_active FROM users WHERE id = $1', [suite.world.bob.id])).rows[0];

describe('every admin route (tagged admin in /openapi.json)', () => {
  it('exists: users list, read, update and statistics are tagged admin', () => {
    const admin = suite.ops.filter(isAdminRoute).map(describeOp);
    expect(admin).toEqual(
      expect.arrayContaining([
        'GET /api/v1/users',
        'GET /api/v1/users/{id}',
        'PATCH /api/v1/users/{id}',
        'GET /api/v1/tasks/admin/stats',
      ]),
    );
  });

  it('no token → 401 with a Bearer challenge; a user’s token → 403; nothing changes', async () => {
    const before = await bobState();
    for (const op of suite.ops.filter(isAdminRoute)) {
      const req = await validRequest(suite.world, op);
      const anonymous = await send(suite.world, op, req, { token: undefined });
      expectProblem(anonymous, 401);
      expect(anonymous.headers.get('www-authenticate'), describeOp(op)).toBe('Bearer');
      const user = await send(suite.world, op, req, { token: suite.world.alice.token });
      expect(user.status, describeOp(op)).toBe(403);
      expectProblem(user, 403);
      // The bodies of admin routes (role, is_active) were not applied.
      if (Object.keys(op.bodies).length > 0) {
        const attempt = await send(suite.world, op, req, {
          token: suite.world.alice.token,
          body: { role: 'admin', is_active: false },
        });
        expect([403, 422], describeOp(op)).toContain(attempt.status);
      }
    }
    expect(await bobState()).toEqual(before);
    const alice = await suite.world.db.pool.query('SELECT role FROM users WHERE id = $1', [suite.world.alice.id]);
    expect(alice.rows[0].role).toBe('user');
  });

  it('an admin gets through (so the refusals above are about the role, not the request)', async () => {
    for (const op of suite.ops.filter(isAdminRoute)) {
      const res = await send(suite.world, op, await validRequest(suite.world, op));
      expect(res.status, `${describeOp(op)}: ${res.text}`).toBeLessThan(300);
    }
  });

  it('a deactivated admin → 401 and a demoted admin → 403 on the very next request', async () => {
    const deactivated = await registerAndLogin(suite.world.api, 'exadmin');
    const demoted = await registerAndLogin(suite.world.api, 'demoted');
    await suite.world.db.pool.query("UPDATE users SET role = 'admin' WHERE id = ANY($1)", [[deactivated.id, demoted.id]]);
    for (const op of suite.ops.filter(isAdminRoute)) {
      const req = await validRequest(suite.world, op);
      expect((await send(suite.world, op, req, { token: deactivated.token })).status, describeOp(op)).toBeLessThan(300);
    }
    await suite.world.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [deactivated.id]);
    await suite.world.db.pool.query("UPDATE users SET role = 'user' WHERE id = $1", [demoted.id]);
    for (const op of suite.ops.filter(isAdminRoute)) {
      const req = await validRequest(suite.world, op);
      expectProblem(await send(suite.world, op, req, { token: deactivated.token }), 401);
      expectProblem(await send(suite.world, op, req, { token: demoted.token }), 403);
    }
  });
});

describe('the admin tag is complete', () => {
  it('a plain user is never refused with 403 by a route that is not tagged admin', async () => {
    // An admin-only route that lacked the tag would answer this user 403 and fail here.
    for (const op of suite.ops.filter((o) => o.secured && !isAdminRoute(o))) {
      const plain = await registerAndLogin(suite.world.api, 'plain');
      const res = await send(suite.world, op, await validRequest(suite.world, op, plain));
      expect(res.status, `${describeOp(op)}: ${res.text}`).not.toBe(403);
    }
  });

  it('every route whose summary says it is for admins is tagged admin', () => {
    for (const op of suite.ops.filter((o) => /admin/i.test(o.summary) || o.path.includes('/admin/'))) {
      expect(isAdminRoute(op), describeOp(op)).toBe(true);
    }
  });

  it('every route that needs a token says so in the document and refuses a request without one', async () => {
    for (const op of suite.ops.filter((o) => o.path.startsWith('/api/v1/') && !o.path.startsWith('/api/v1/auth/'))) {
      expect(op.secured, describeOp(op)).toBe(true);
    }
    for (const op of suite.ops.filter((o) => o.secured)) {
      const res = await send(suite.world, op, await validRequest(suite.world, op), { token: undefined });
      expectProblem(res, 401);
    }
  });
});
