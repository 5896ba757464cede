import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sessionIdOf } from '../helpers/app.js';
import { describeOp, fillPath, hasIdParam, isAdminRoute, queryParams } from '../helpers/openapi.js';
import {
  createAccessToken,
  createLabel,
  createProject,
  createProjectWithMember,
  createTask,
  createWebhook,
  expectProblem,
  fillPathParams,
  projectState as projectStateIn,
  send,
  useWorldAndOperations,
  validRequest,
} from '../helpers/security.js';

// OWASP API1:2023 (broken object-level authorisation): every route that takes an object id or a
// user_id, read from /openapi.json, is tried by one user on another user's object.
const suite = useWorldAndOperations();

/**
 * For each collection with ids (or names) in its paths: how to make an object owned by a given user, and
 * read it back; `adminActsOnAll: false` for objects an admin too can only reach among their own (labels).
 */
const owned: Record<
  string,
  {
    create: (token: string) => Promise<number | string>;
    read: (id: number | string) => Promise<unknown>;
    adminActsOnAll?: false;
    /** The path for the object made by `create` (default: every parameter is its id). */
    fill?: (path: string, id: number | string) => string;
    /** An id of the right form that names no object (default: 2^31 - 1). */
    missing?: string;
  }
> = {
  '/api/v1/tasks/{id}': {
    create: async (token) => (await createTask(suite.world.api, token, 'alice private task')).id,
    read: async (id) => (await suite.world.db.pool.query('SELECT * FROM tasks WHERE id = $1', [id])).rows[0],
  },
  '/api/v1/labels/{name}': {
    create: (token) => createLabel(suite.world.api, token, 'alice-private'),
    // The label and the tasks carrying it, with their versions.
    read: async (name) =>
      (
        await suite.world.db.pool.query(
          `SELECT l.*, array_agg(t.id || ':' || t.version ORDER BY t.id) AS tasks
           FROM labels l LEFT JOIN task_labels tl ON tl.label_id = l.id LEFT JOIN tasks t ON t.id = tl.task_id
           WHERE l.name = $1 GROUP BY l.id`,
          [name],
        )
      ).rows,
    adminActsOnAll: false,
  },
  // A login of alice's (not the one her token belongs to: the world goes on using that).
  '/api/v1/users/me/sessions/{id}': {
    create: async () => {
      const { alice } = suite.world;
      const login = await suite.world.api.post('/auth/login', { username: alice.username, password: alice.password });
      return sessionIdOf(login.body.access_token);
    },
    read: async (id) =>
      (await suite.world.db.pool.query('SELECT revoked_at, revoked_reason FROM auth_sessions WHERE id = $1', [id])).rows,
    adminActsOnAll: false,
    missing: randomUUID(),
  },
  // A personal access token is its owner's alone: an admin too reaches only their own.
  '/api/v1/users/me/tokens/{id}': {
    create: async (token) => (await createAccessToken(suite.world.api, token)).id,
    read: async (id) => (await suite.world.db.pool.query('SELECT * FROM personal_access_tokens WHERE id = $1', [id])).rows[0],
    adminActsOnAll: false,
  },
  // A project is alice's (its owner's); bob, who is not a member, must not learn it exists.
  '/api/v1/projects/{id}': { create: (token) => createProject(suite.world.api, token), read: (id) => projectState(Number(id)) },
  '/api/v1/projects/{id}/members': {
    create: (token) => createProject(suite.world.api, token),
    read: (id) => projectState(Number(id)),
  },
  ...Object.fromEntries(
    ['/api/v1/webhooks/{id}', '/api/v1/webhooks/{id}/test', '/api/v1/webhooks/{id}/deliveries'].map((path) => [
      path,
      {
        create: (token: string) =>
          createWebhook(suite.world, token === suite.world.alice.token ? suite.world.alice : suite.world.bob),
        // The webhook and how many deliveries it has: a refused test queues none.
        read: async (id: number | string) =>
          (
            await suite.world.db.pool.query(
              'SELECT w.*, (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id) AS deliveries FROM webhooks w WHERE id = $1',
              [id],
            )
          ).rows,
        // A webhook is its owner's alone: an admin gets a 404 too.
        adminActsOnAll: false as const,
      },
    ]),
  ),
  '/api/v1/projects/{id}/members/{user_id}': {
    create: async (token) => {
      const { projectId, userId } = await createProjectWithMember(suite.world.api, token);
      return `${projectId}/${userId}`;
    },
    read: (ids) => projectState(Number(String(ids).split('/')[0])),
    fill: (path, ids) => {
      const [id, userId] = String(ids).split('/');
      return fillPathParams(path, { id: id as string, user_id: userId ?? (id as string) });
    },
  },
};

const projectState = (id: number) => projectStateIn(suite.world.db.pool, id);

// Admin routes are for admins over every object by design; function-authorisation.test.ts covers them.
const objectRoutes = () => suite.ops.filter((op) => hasIdParam(op) && !isAdminRoute(op));

describe('routes with an object id in the path', () => {
  it('are all known to this test (a new one needs an owner fixture here)', () => {
    expect(objectRoutes().length).toBeGreaterThanOrEqual(4);
    for (const op of objectRoutes()) expect(Object.keys(owned), describeOp(op)).toContain(op.path);
  });

  it("another user's object is a 404 identical to a missing one, and is left untouched", async () => {
    for (const op of objectRoutes()) {
      const fixture = owned[op.path];
      if (!fixture) throw new Error(`no fixture for ${op.path}`);
      const pathOf = fixture.fill ?? fillPath;
      const id = await fixture.create(suite.world.alice.token);
      const before = await fixture.read(id);
      const example = await validRequest(suite.world, op);
      const foreign = await send(suite.world, op, example, { path: pathOf(op.path, id), token: suite.world.bob.token });
      const missing = await send(suite.world, op, example, {
        path: pathOf(op.path, fixture.missing ?? 2 ** 31 - 1),
        token: suite.world.bob.token,
      });
      expectProblem(foreign, 404);
      expect(foreign.text, describeOp(op)).toBe(missing.text);
      expect(foreign.headers.get('content-length')).toBe(missing.headers.get('content-length'));
      expect(foreign.headers.get('etag')).toBeNull();
      expect(await fixture.read(id), describeOp(op)).toEqual(before);
      // With an If-Match or If-None-Match naming the object's real version, still nothing.
      const conditional = await suite.world.root.request(op.method, pathOf(op.path, id), example.body, {
        token: suite.world.bob.token,
        headers: { 'if-match': '*', 'if-none-match': '*' },
      });
      expect(conditional.status, describeOp(op)).toBe(404);
      expect(await fixture.read(id), describeOp(op)).toEqual(before);
      // The owner (and an admin) are let through: the 404s above are about ownership.
      const own = await send(suite.world, op, example, { path: pathOf(op.path, id), token: suite.world.alice.token });
      expect(own.status, `${describeOp(op)}: ${own.text}`).toBeLessThan(300);
      const adminId = await fixture.create(suite.world.alice.token);
      const adminBefore = await fixture.read(adminId);
      const admin = await send(suite.world, op, example, { path: pathOf(op.path, adminId), token: suite.world.admin.token });
      if (fixture.adminActsOnAll === false) {
        // Admins too act only on their own: alice's object is theirs no more than bob's.
        expectProblem(admin, 404);
        expect(admin.text, describeOp(op)).toBe(missing.text);
        expect(await fixture.read(adminId), describeOp(op)).toEqual(adminBefore);
      } else {
        expect(admin.status, `${describeOp(op)}: ${admin.text}`).toBeLessThan(300);
      }
    }
  });
});

describe('routes with a user_id query parameter', () => {
  const userIdRoutes = () => suite.ops.filter((op) => queryParams(op).some((p) => p.name === 'user_id') && !isAdminRoute(op));

  it("a user naming another user's id → 403 without any of their data; their own id works", async () => {
    expect(userIdRoutes().length).toBeGreaterThanOrEqual(1);
    await createTask(suite.world.api, suite.world.alice.token, 'alice secret');
    for (const op of userIdRoutes()) {
      const foreign = await suite.world.root.request(op.method, `${op.path}?user_id=${suite.world.alice.id}`, undefined, {
        token: suite.world.bob.token,
      });
      expectProblem(foreign, 403);
      expect(foreign.text).not.toContain('alice secret');
      expect(foreign.headers.get('x-total-count')).toBeNull();
      const own = await suite.world.root.request(op.method, `${op.path}?user_id=${suite.world.bob.id}`, undefined, {
        token: suite.world.bob.token,
      });
      expect(own.status).toBe(200);
      expect(own.text).not.toContain('alice secret');
      const admin = await suite.world.root.request(op.method, `${op.path}?user_id=${suite.world.alice.id}`, undefined, {
        token: suite.world.admin.token,
      });
      expect(admin.status).toBe(200);
      expect(admin.text).toContain('alice secret');
    }
  });
});

describe('collections', () => {
  it("a user's list, search and count never include another user's tasks", async () => {
    await createTask(suite.world.api, suite.world.alice.token, 'needle-only-alice-has');
    const list = await suite.world.api.get('/tasks?q=needle-only-alice-has&limit=100', { token: suite.world.bob.token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([]);
    expect(list.headers.get('x-total-count')).toBe('0');
    const all = await suite.world.api.get('/tasks?limit=100', { token: suite.world.bob.token });
    expect(all.body.every((t: { user_id: number }) => t.user_id === suite.world.bob.id)).toBe(true);
  });

  it("an Idempotency-Key is per user: another user's key never replays the first user's task", async () => {
    const key = `shared-key-${Date.now()}`;
    const first = await suite.world.api.post(
      '/tasks',
      { title: 'keyed' },
      { token: suite.world.alice.token, headers: { 'idempotency-key': key } },
    );
    expect(first.status).toBe(201);
    const second = await suite.world.api.post(
      '/tasks',
      { title: 'keyed' },
      { token: suite.world.bob.token, headers: { 'idempotency-key': key } },
    );
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(second.body.user_id).toBe(suite.world.bob.id);
    expect(second.body.id).not.toBe(first.body.id);
  });

  it('a task cannot be moved to another user, by owner or admin', async () => {
    const task = await createTask(suite.world.api, suite.world.alice.token);
    for (const token of [suite.world.alice.token, suite.world.admin.token]) {
      const res = await suite.world.api.patch(`/tasks/${task.id}`, { user_id: suite.world.bob.id }, { token });
      expectProblem(res, 422);
    }
    const row = await suite.world.db.pool.query('SELECT user_id::int AS user_id FROM tasks WHERE id = $1', [task.id]);
    expect(row.rows[0].user_id).toBe(suite.world.alice.id);
  });
});
