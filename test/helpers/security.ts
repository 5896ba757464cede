import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { registerAndLogin, sessionIdOf, setupTestApp, type TestContext, uniqueUser } from './app.js';
import { type HttpClient, type HttpResponse, httpClient } from './http.js';
import { describeOp, fillPath, type Operation, operations } from './openapi.js';

export type Account = Awaited<ReturnType<typeof registerAndLogin>>;

/** An app with an admin and two users, and a client on the server's root (paths as in /openapi.json). */
export interface World extends TestContext {
  root: HttpClient;
  admin: Account;
  alice: Account;
  bob: Account;
}

export async function setupWorld(overrides: Partial<AppConfig> = {}): Promise<World> {
  const ctx = await setupTestApp(overrides);
  const admin = await registerAndLogin(ctx.api, 'admin');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  const alice = await registerAndLogin(ctx.api, 'alice');
  const bob = await registerAndLogin(ctx.api, 'bob');
  return { ...ctx, root: httpClient(ctx.baseUrl), admin, alice, bob };
}

/**
 * For a test file that walks the API's operations: a world and the operations of its /openapi.json,
 * set up before the file's tests and closed after them (read them as `suite.world`, `suite.ops`).
 */
export function useWorldAndOperations(overrides: Partial<AppConfig> = {}): { world: World; ops: Operation[] } {
  const suite = {} as { world: World; ops: Operation[] };
  beforeAll(async () => {
    suite.world = await setupWorld(overrides);
    suite.ops = await operations(suite.world.baseUrl);
  });
  afterAll(() => suite.world?.close());
  return suite;
}

/** A request that the route would accept, built afresh (each may consume a refresh token or create a user). */
export interface ValidRequest {
  path: string;
  token?: string;
  body?: Record<string, unknown>;
}

export async function createTask(
  api: HttpClient,
  token: string,
  title = 'a task',
): Promise<{ id: number; [k: string]: unknown }> {
  const res = await api.post('/tasks', { title }, { token });
  if (res.status !== 201) throw new Error(`create task: ${res.status} ${res.text}`);
  return res.body;
}

/** A personal access token of the caller's (by default reading tasks): its id and the token. */
export async function createAccessToken(
  api: HttpClient,
  token: string,
  scopes: readonly string[] = ['tasks:read'],
): Promise<{ id: number; token: string }> {
  const name = `token-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const res = await api.post('/users/me/tokens', { name, scopes }, { token });
  if (res.status !== 201) throw new Error(`create access token: ${res.status} ${res.text}`);
  return res.body;
}

let labelCounter = 0;

/** A label of the caller's, new and carried by one new task of theirs: its name. */
export async function createLabel(api: HttpClient, token: string, prefix = 'label'): Promise<string> {
  labelCounter += 1;
  const name = `${prefix}-${labelCounter}-${Date.now().toString(36)}`;
  const res = await api.post('/tasks', { title: 'labelled task', labels: [name] }, { token });
  if (res.status !== 201) throw new Error(`create label: ${res.status} ${res.text}`);
  return name;
}

/** A project of the caller's (its owner): its id. */
export async function createProject(api: HttpClient, token: string, name = 'a project'): Promise<number> {
  const res = await api.post('/projects', { name }, { token });
  if (res.status !== 201) throw new Error(`create project: ${res.status} ${res.text}`);
  return res.body.id;
}

/** A project of the owner's with a new user added as a viewer: both ids. */
export async function createProjectWithMember(
  api: HttpClient,
  ownerToken: string,
): Promise<{ projectId: number; userId: number }> {
  const projectId = await createProject(api, ownerToken, 'a project with a member');
  const member = await registerAndLogin(api, 'member');
  const res = await api.post(
    `/projects/${projectId}/members`,
    { username: member.username, role: 'viewer' },
    { token: ownerToken },
  );
  if (res.status !== 201) throw new Error(`add member: ${res.status} ${res.text}`);
  return { projectId, userId: member.id };
}

/**
 * A webhook of the caller's (to an address that never resolves: .invalid, subscribed only
 * to webhook.disabled): its id. Older ones of the caller's go first when near the per-user limit, as
 * suites make many.
 */
export async function createWebhook(world: Pick<World, 'api' | 'db'>, account: Pick<Account, 'id' | 'token'>): Promise<number> {
  await world.db.pool.query(
    'DELETE FROM webhooks WHERE user_id = $1 AND id NOT IN (SELECT id FROM webhooks WHERE user_id = $1 ORDER BY id DESC LIMIT 10)',
    [account.id],
  );
  const res = await world.api.post('/webhooks', webhookBody(), { token: account.token });
  if (res.status !== 201) throw new Error(`create webhook: ${res.status} ${res.text}`);
  return res.body.id;
}

/** A valid POST /webhooks body. */
export const webhookBody = () => ({ url: 'https://hooks.invalid/task-api', events: ['webhook.disabled'] });

/**
 * A project's row, its memberships, and its tasks with their versions and labels: everything a
 * refused request on the project or one of its tasks must leave as it was.
 */
export async function projectState(pool: World['db']['pool'], id: number) {
  const project = await pool.query('SELECT * FROM projects WHERE id = $1', [id]);
  const members = await pool.query('SELECT * FROM project_members WHERE project_id = $1 ORDER BY user_id', [id]);
  const tasks = await pool.query(
    `SELECT t.*, array(SELECT label_id FROM task_labels tl WHERE tl.task_id = t.id ORDER BY label_id) AS label_ids
     FROM tasks t WHERE project_id = $1 ORDER BY id`,
    [id],
  );
  return { project: project.rows, members: members.rows, tasks: tasks.rows };
}

/**
 * A live password reset token, as a reset mail carries it, of a fresh account (not one of the
 * world's, whose passwords the tests go on using).
 */
export async function liveResetToken(ctx: Pick<TestContext, 'api' | 'db'>): Promise<string> {
  const fresh = await registerAndLogin(ctx.api, 'reset');
  const token = randomBytes(32).toString('base64url');
  await ctx.db.pool.query(
    "INSERT INTO password_reset_tokens (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '30 minutes')",
    [fresh.id, createHash('sha256').update(token).digest()],
  );
  return token;
}

/** A live email verification token of a fresh account, for the address it has, as a verification mail carries it. */
export async function liveVerificationToken(ctx: Pick<TestContext, 'api' | 'db'>): Promise<string> {
  const fresh = await registerAndLogin(ctx.api, 'verify');
  const token = randomBytes(32).toString('base64url');
  await ctx.db.pool.query(
    "INSERT INTO email_verification_tokens (user_id, email, token_hash, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')",
    [fresh.id, fresh.email, createHash('sha256').update(token).digest()],
  );
  return token;
}

/** A path with each of its parameters filled from `values`, by name (`{id}`, `{user_id}`). */
export const fillPathParams = (path: string, values: Record<string, number | string>) =>
  path.replace(/\{([^}]+)\}/g, (_, name: string) => String(values[name]));

/**
 * One valid request per route, as its caller (anonymous, a user, or an admin for admin routes).
 * A route missing here fails the tests that use it, so a new route gets a valid example on the day it appears.
 */
export async function validRequest(world: World, op: Operation, caller?: Account): Promise<ValidRequest> {
  const { api, admin, bob } = world;
  const alice = caller ?? world.alice;
  const token = op.tags.includes('admin') ? admin.token : op.secured ? alice.token : undefined;
  switch (describeOp(op)) {
    case 'POST /api/v1/auth/register':
      return { path: op.path, body: uniqueUser('reg') };
    case 'POST /api/v1/auth/login':
      return { path: op.path, body: { username: alice.username, password: alice.password } };
    case 'POST /api/v1/auth/refresh': {
      const fresh = await registerAndLogin(api, 'refresh');
      return { path: op.path, body: { refresh_token: fresh.refreshToken } };
    }
    case 'POST /api/v1/auth/password-reset':
      return { path: op.path, body: { email: alice.email } };
    case 'POST /api/v1/auth/password-reset/confirm':
      return { path: op.path, body: { token: await liveResetToken(world), new_password: 'a reset password' } };
    case 'POST /api/v1/auth/verify-email':
      return { path: op.path, body: { token: await liveVerificationToken(world) } };
    case 'POST /api/v1/auth/verify-email/resend': {
      // A fresh account: still unverified (a verified one is a 409).
      const fresh = await registerAndLogin(api, 'resend');
      return { path: op.path, token: fresh.token };
    }
    case 'POST /api/v1/auth/logout':
    case 'POST /api/v1/auth/logout-all': {
      const fresh = await registerAndLogin(api, 'logout');
      return { path: op.path, token: fresh.token };
    }
    case 'GET /api/v1/users/me/sessions':
      return { path: op.path, token };
    case 'DELETE /api/v1/users/me/sessions': {
      // Ends the caller's other logins: the world's own accounts keep theirs.
      const owner = caller ?? (await registerAndLogin(api, 'sessions'));
      return { path: op.path, token: owner.token };
    }
    case 'DELETE /api/v1/users/me/sessions/{id}': {
      // Another login of the caller's, ended by the caller's token (which stays valid).
      const owner = caller ?? (await registerAndLogin(api, 'sessions'));
      const login = await api.post('/auth/login', { username: owner.username, password: owner.password });
      if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
      return { path: fillPathParams(op.path, { id: sessionIdOf(login.body.access_token) }), token: owner.token };
    }
    case 'POST /api/v1/users/me/tokens':
      return { path: op.path, token, body: { name: `token-${Math.random().toString(36).slice(2, 10)}`, scopes: ['tasks:read'] } };
    case 'DELETE /api/v1/users/me/tokens/{id}':
      return { path: fillPath(op.path, (await createAccessToken(api, alice.token)).id), token };
    case 'GET /api/v1/users/me/tokens':
    case 'GET /api/v1/users/me':
    case 'GET /api/v1/users':
    case 'GET /api/v1/tasks':
    case 'GET /api/v1/tasks/admin/stats':
    case 'GET /api/v1/labels':
    case 'GET /api/v1/projects':
      return { path: op.path, token };
    case 'POST /api/v1/projects':
      return { path: op.path, token, body: { name: 'valid project' } };
    case 'GET /api/v1/projects/{id}':
    case 'DELETE /api/v1/projects/{id}':
    case 'GET /api/v1/projects/{id}/members':
      return { path: fillPath(op.path, await createProject(api, alice.token)), token };
    case 'PATCH /api/v1/projects/{id}':
      return { path: fillPath(op.path, await createProject(api, alice.token)), token, body: { name: 'renamed project' } };
    case 'POST /api/v1/projects/{id}/members': {
      const member = await registerAndLogin(api, 'joiner');
      return {
        path: fillPath(op.path, await createProject(api, alice.token)),
        token,
        body: { username: member.username, role: 'viewer' },
      };
    }
    case 'PATCH /api/v1/projects/{id}/members/{user_id}':
    case 'DELETE /api/v1/projects/{id}/members/{user_id}': {
      const { projectId, userId } = await createProjectWithMember(api, alice.token);
      return {
        path: fillPathParams(op.path, { id: projectId, user_id: userId }),
        token,
        ...(op.method === 'PATCH' ? { body: { role: 'editor' } } : {}),
      };
    }
    case 'PATCH /api/v1/users/me':
      return { path: op.path, token, body: { email: uniqueUser('mail').email, current_password: alice.password } };
    case 'GET /api/v1/users/{id}':
      return { path: fillPath(op.path, bob.id), token };
    case 'PATCH /api/v1/users/{id}':
      return { path: fillPath(op.path, bob.id), token, body: { is_active: true } };
    case 'POST /api/v1/tasks':
      return { path: op.path, token, body: { title: 'valid task' } };
    case 'GET /api/v1/tasks/{id}':
    case 'DELETE /api/v1/tasks/{id}':
      return { path: fillPath(op.path, (await createTask(api, alice.token)).id), token };
    case 'PUT /api/v1/tasks/{id}':
    case 'PATCH /api/v1/tasks/{id}':
      return { path: fillPath(op.path, (await createTask(api, alice.token)).id), token, body: { title: 'changed' } };
    case 'PATCH /api/v1/labels/{name}':
      return {
        path: fillPath(op.path, await createLabel(api, alice.token)),
        token,
        body: { name: `renamed-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}` },
      };
    case 'DELETE /api/v1/labels/{name}':
      return { path: fillPath(op.path, await createLabel(api, alice.token)), token };
    case 'GET /api/v1/webhooks':
      return { path: op.path, token };
    case 'POST /api/v1/webhooks':
      await createWebhook(world, alice);
      return { path: op.path, token, body: webhookBody() };
    case 'GET /api/v1/webhooks/{id}':
    case 'DELETE /api/v1/webhooks/{id}':
    case 'POST /api/v1/webhooks/{id}/test':
    case 'GET /api/v1/webhooks/{id}/deliveries':
      return { path: fillPath(op.path, await createWebhook(world, alice)), token };
    case 'GET /api/v1/stream':
    case 'POST /api/v1/stream/tickets':
      return { path: op.path, token };
    case 'PATCH /api/v1/webhooks/{id}':
      return { path: fillPath(op.path, await createWebhook(world, alice)), token, body: { description: 'changed' } };
    default:
      throw new Error(`no valid example request for ${describeOp(op)}: add one to test/helpers/security.ts`);
  }
}

export function send(world: World, op: Operation, req: ValidRequest, override: Partial<ValidRequest> & { raw?: string } = {}) {
  const r = { ...req, ...override };
  const options = {
    ...(r.token ? { token: r.token } : {}),
    ...(override.raw !== undefined ? { raw: override.raw, headers: { 'content-type': 'application/json' } } : {}),
  };
  return world.root.request(op.method, r.path, override.raw !== undefined ? undefined : r.body, options);
}

/** What no error body may contain: stack frames, file paths, library names, SQL. */
export const INTERNAL_DETAIL =
  /\bat \S+ \(|\/src\/|node_modules|\.[cm]?[jt]s:\d|fastify|FST_|ajv|drizzle|typebox|postgres|\bpg\b|sqlstate|SELECT |INSERT |UPDATE |DELETE FROM|relation "|column "|syntax error|ECONN|stack/i;

export function expectProblem(res: HttpResponse, status?: number) {
  if (status !== undefined) expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.status).toBe(res.status);
  expect(res.text).not.toMatch(INTERNAL_DETAIL);
}
