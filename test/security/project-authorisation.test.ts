import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROLES } from '../../src/db/enums.js';
import { registerAndLogin } from '../helpers/app.js';
import type { HttpResponse } from '../helpers/http.js';
import { describeOp, hasIdParam, isAdminRoute } from '../helpers/openapi.js';
import {
  createAccessToken,
  createLabel,
  createTask,
  createWebhook,
  expectProblem,
  projectState,
  useWorldAndOperations,
} from '../helpers/security.js';
import { CALLERS, type Caller, type Cast, castOfWorld, castProject } from '../modules/projects/fixtures.js';

// OWASP API1:2023 with projects: every id route, read from /openapi.json, tried on a project's objects
// by an outsider, a viewer, an editor, the owner and an admin, against one table of what each may do
// (README, "Projects": the table of who may do what).
const suite = useWorldAndOperations();
let cast: Cast;
beforeAll(async () => {
  cast = await castOfWorld(suite.world);
});

const MISSING = 2 ** 31 - 1;
type Outcome = '2xx' | 403 | 404 | 409 | 422;

/** One fresh object per (route, caller): a project with a task (carrying a label) and a bystander member, and a task of the caller's own outside it. */
interface Fresh {
  project: number;
  task: number;
  label: string;
  /** A viewer who is neither the caller nor in the cast: the member the member routes act on. */
  bystander: number;
  ownTask: number;
  /** The caller's own user id. */
  self: number;
  /** A personal access token of the owner's: theirs alone, whatever anyone's role in the project. */
  ownerToken: number;
  /** A webhook of the project's owner: its owner's alone, whatever the project. */
  webhook: number;
}

interface Case {
  expected: Record<Caller, Outcome>;
  /** The request on `f` as `who`; built again with ids replaced by MISSING for the missing object's answer. */
  request: (f: Fresh, who: Caller) => { path: string; body?: unknown };
  /** Which of `f`'s ids the missing object's request replaces, for `who` (default: all). */
  missing?: (who: Caller) => (keyof Fresh)[];
}

const readers = { outsider: 404, viewer: '2xx', editor: '2xx', owner: '2xx', admin: '2xx' } as const;
const writers = { outsider: 404, viewer: 403, editor: '2xx', owner: '2xx', admin: '2xx' } as const;
const ownerOnly = { outsider: 404, viewer: 403, editor: 403, owner: '2xx', admin: '2xx' } as const;
const into = { outsider: 422, viewer: 403, editor: '2xx', owner: '2xx', admin: '2xx' } as const;
const task = (f: Fresh) => `/api/v1/tasks/${f.task}`;
const project = (f: Fresh) => `/api/v1/projects/${f.project}`;
const member = (f: Fresh, userId: number) => `/api/v1/projects/${f.project}/members/${userId}`;
const webhook = (f: Fresh) => `/api/v1/webhooks/${f.webhook}`;
/** A webhook is its creator's alone: the project's members and admins get a 404 like anyone else. */
const creatorOnly = { outsider: 404, viewer: 404, editor: 404, owner: '2xx', admin: 404 } as const;

/** Keys: "METHOD /path" as in the document, with a variant in parentheses for a second case of a route. */
const cases: Record<string, Case> = {
  'GET /api/v1/tasks/{id}': { expected: readers, request: (f) => ({ path: task(f) }) },
  // project_id sent again: a PUT without it would also move the task out.
  'PUT /api/v1/tasks/{id}': {
    expected: writers,
    request: (f) => ({ path: task(f), body: { title: 'replaced', project_id: f.project } }),
  },
  'PATCH /api/v1/tasks/{id}': { expected: writers, request: (f) => ({ path: task(f), body: { priority: 'high' } }) },
  'PATCH /api/v1/tasks/{id} (out of the project)': {
    expected: writers,
    request: (f) => ({ path: task(f), body: { project_id: null } }),
  },
  // The caller's own task, moved into the project: an unseen project is refused as a missing one.
  'PATCH /api/v1/tasks/{id} (into the project)': {
    expected: into,
    request: (f) => ({ path: `/api/v1/tasks/${f.ownTask}`, body: { project_id: f.project } }),
    missing: () => ['project'],
  },
  'POST /api/v1/tasks (into the project)': {
    expected: into,
    request: (f) => ({ path: '/api/v1/tasks', body: { title: 'new in project', project_id: f.project } }),
  },
  'DELETE /api/v1/tasks/{id}': { expected: writers, request: (f) => ({ path: task(f) }) },
  // The label of the owner's that the project's task carries: labels are their creator's vocabulary alone.
  'PATCH /api/v1/labels/{name}': {
    expected: { outsider: 404, viewer: 404, editor: 404, owner: '2xx', admin: 404 },
    request: (f) => ({ path: `/api/v1/labels/${f.label}`, body: { name: `renamed-${f.project}` } }),
  },
  'DELETE /api/v1/labels/{name}': {
    expected: { outsider: 404, viewer: 404, editor: 404, owner: '2xx', admin: 404 },
    request: (f) => ({ path: `/api/v1/labels/${f.label}` }),
  },
  'DELETE /api/v1/users/me/tokens/{id}': {
    expected: { outsider: 404, viewer: 404, editor: 404, owner: '2xx', admin: 404 },
    request: (f) => ({ path: `/api/v1/users/me/tokens/${f.ownerToken}` }),
  },
  'GET /api/v1/webhooks/{id}': { expected: creatorOnly, request: (f) => ({ path: webhook(f) }) },
  'PATCH /api/v1/webhooks/{id}': {
    expected: creatorOnly,
    request: (f) => ({ path: webhook(f), body: { description: 'taken' } }),
  },
  'DELETE /api/v1/webhooks/{id}': { expected: creatorOnly, request: (f) => ({ path: webhook(f) }) },
  'POST /api/v1/webhooks/{id}/test': { expected: creatorOnly, request: (f) => ({ path: `${webhook(f)}/test` }) },
  'GET /api/v1/webhooks/{id}/deliveries': { expected: creatorOnly, request: (f) => ({ path: `${webhook(f)}/deliveries` }) },
  'GET /api/v1/projects/{id}': { expected: readers, request: (f) => ({ path: project(f) }) },
  // Editors rename and describe (README's table; service.update), viewers may not.
  'PATCH /api/v1/projects/{id}': { expected: writers, request: (f) => ({ path: project(f), body: { name: 'renamed' } }) },
  'DELETE /api/v1/projects/{id}': {
    expected: { outsider: 404, viewer: 403, editor: 403, owner: 409, admin: 409 },
    request: (f) => ({ path: project(f) }),
  },
  'DELETE /api/v1/projects/{id} (with_tasks=true)': {
    expected: ownerOnly,
    request: (f) => ({ path: `${project(f)}?with_tasks=true` }),
  },
  'GET /api/v1/projects/{id}/members': { expected: readers, request: (f) => ({ path: `${project(f)}/members` }) },
  'POST /api/v1/projects/{id}/members': {
    expected: ownerOnly,
    request: (f) => ({ path: `${project(f)}/members`, body: { username: joiner.username, role: 'viewer' } }),
  },
  'PATCH /api/v1/projects/{id}/members/{user_id}': {
    expected: ownerOnly,
    request: (f) => ({ path: member(f, f.bystander), body: { role: 'editor' } }),
  },
  'PATCH /api/v1/projects/{id}/members/{user_id} (hand-over to the editor)': {
    expected: ownerOnly,
    request: (f) => ({ path: member(f, cast.editor.id), body: { role: 'owner' } }),
  },
  'DELETE /api/v1/projects/{id}/members/{user_id}': { expected: ownerOnly, request: (f) => ({ path: member(f, f.bystander) }) },
  // Leaving: any member may; the owner may not (409); an admin who is not a member is no member to remove.
  'DELETE /api/v1/projects/{id}/members/{user_id} (themself)': {
    expected: { outsider: 404, viewer: '2xx', editor: '2xx', owner: 409, admin: 404 },
    request: (f) => ({ path: member(f, f.self) }),
    // The missing object: the member for those who see the project, the project for the outsider.
    missing: (who) => (who === 'outsider' ? ['project'] : ['self']),
  },
  'DELETE /api/v1/projects/{id}/members/{user_id} (the owner)': {
    expected: { outsider: 404, viewer: 403, editor: 403, owner: 409, admin: 409 },
    request: (f) => ({ path: member(f, cast.owner.id) }),
  },
};

let joiner: { username: string };
let bystander: { id: number; username: string };

async function fresh(who: Caller): Promise<Fresh> {
  const { api } = suite.world;
  const id = await castProject(api, cast, 'authorisation');
  const added = await api.post(
    `/projects/${id}/members`,
    { username: bystander.username, role: 'viewer' },
    { token: cast.owner.token },
  );
  if (added.status !== 201) throw new Error(`add bystander: ${added.status} ${added.text}`);
  const label = await createLabel(api, cast.owner.token, 'owners');
  const made = await api.post('/tasks', { title: 'project task', project_id: id, labels: [label] }, { token: cast.owner.token });
  if (made.status !== 201) throw new Error(`project task: ${made.status} ${made.text}`);
  const own = await createTask(api, cast[who].token, `own task of ${who}`);
  // One at a time: the owner's tokens would otherwise reach the most an account may hold.
  await suite.world.db.pool.query('DELETE FROM personal_access_tokens WHERE user_id = $1', [cast.owner.id]);
  const ownerToken = (await createAccessToken(api, cast.owner.token)).id;
  const hook = await createWebhook(suite.world, cast.owner);
  return {
    project: id,
    task: made.body.id,
    label,
    bystander: bystander.id,
    ownTask: own.id,
    self: cast[who].id,
    ownerToken,
    webhook: hook,
  };
}

/** What a refused request must leave as it was: the project's rows, the caller's own task, the owner's label. */
async function stateOf(f: Fresh) {
  const { pool } = suite.world.db;
  const own = await pool.query('SELECT * FROM tasks WHERE id = $1', [f.ownTask]);
  const label = await pool.query('SELECT * FROM labels WHERE user_id = $1 AND name = $2', [cast.owner.id, f.label]);
  const token = await pool.query('SELECT * FROM personal_access_tokens WHERE id = $1', [f.ownerToken]);
  const webhook = await pool.query(
    'SELECT w.*, (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id) AS deliveries FROM webhooks w WHERE id = $1',
    [f.webhook],
  );
  return { ...(await projectState(pool, f.project)), own: own.rows, label: label.rows, token: token.rows, webhook: webhook.rows };
}

const send = (who: Caller, method: string, req: { path: string; body?: unknown }) =>
  suite.world.root.request(method, req.path, req.body, { token: cast[who].token });
const outcomeOf = (res: HttpResponse): Outcome | number => (res.status >= 200 && res.status < 300 ? '2xx' : res.status);
const methodOf = (key: string) => key.split(' ')[0] as string;
const documented = (key: string) => key.split(' ').slice(0, 2).join(' ');
// A user's own logins (/users/me/sessions/{id}) belong to no project: object-authorisation.test.ts tries them.
const objectRoutes = () =>
  suite.ops.filter((op) => hasIdParam(op) && !isAdminRoute(op) && !op.path.startsWith('/api/v1/users/me/'));

// First in the file: the cast's editor and viewer are then in this one project only.
describe('GET /tasks by caller', () => {
  const needle = `needle${Date.now().toString(36)}`;
  let listed: number;
  let ids: number[];
  const members: Record<Caller, boolean> = { outsider: false, viewer: true, editor: true, owner: true, admin: true };
  const list = (who: Caller, query: string) => suite.world.api.get(`/tasks${query}`, { token: cast[who].token });
  const idsOf = (res: HttpResponse) => (res.body as Array<{ id: number }>).map((t) => t.id).sort((a, b) => a - b);

  beforeAll(async () => {
    listed = await castProject(suite.world.api, cast, 'listed');
    ids = [];
    for (const who of ['owner', 'editor', 'owner'] as const) {
      const res = await suite.world.api.post(
        '/tasks',
        { title: `${needle} by ${who}`, project_id: listed },
        { token: cast[who].token },
      );
      expect(res.status, res.text).toBe(201);
      ids.push(res.body.id);
    }
    ids.sort((a, b) => a - b);
  });

  it("lists the project's tasks exactly for its members and admins, with X-Total-Count agreeing", async () => {
    for (const who of CALLERS) {
      const expected = members[who] ? ids : [];
      for (const query of [`?q=${needle}&limit=100`, `?project_id=${listed}&limit=100`]) {
        const res = await list(who, query);
        expect(res.status, `${who} ${query}`).toBe(200);
        expect(idsOf(res), `${who} ${query}`).toEqual(expected);
        expect(res.headers.get('x-total-count'), `${who} ${query}`).toBe(String(expected.length));
      }
      // Unfiltered: the project's tasks among the caller's own, counted in the total.
      const all = await list(who, '?limit=100');
      const seen = idsOf(all).filter((id) => ids.includes(id));
      expect(seen, who).toEqual(expected);
      expect(Number(all.headers.get('x-total-count')), who).toBe(all.body.length);
      expect(all.text.includes(needle), who).toBe(members[who]);
    }
  });

  it('project_id of a project the caller is not in lists nothing, as for a project that does not exist', async () => {
    const foreign = await list('outsider', `?project_id=${listed}`);
    const missing = await list('outsider', `?project_id=${MISSING}`);
    expect(foreign.status).toBe(200);
    expect(foreign.body).toEqual([]);
    expect(foreign.headers.get('x-total-count')).toBe('0');
    expect(foreign.text).toBe(missing.text);
    expect(foreign.text).not.toContain(needle);
    // Paging links name only what the caller sent, whatever the project holds.
    expect(foreign.headers.get('link')).toBe(missing.headers.get('link')?.replaceAll(String(MISSING), String(listed)));
  });
});

describe('project routes by caller', () => {
  it('the table knows every id route in the document, and only routes in it; the callers are every role', () => {
    expect(objectRoutes().length).toBeGreaterThanOrEqual(10);
    for (const op of objectRoutes()) expect(Object.keys(cases), `${describeOp(op)} needs a row here`).toContain(describeOp(op));
    const inDocument = new Set(suite.ops.map(describeOp));
    for (const key of Object.keys(cases)) expect(inDocument, key).toContain(documented(key));
    expect([...CALLERS].sort()).toEqual([...PROJECT_ROLES, 'outsider', 'admin'].sort());
  });

  beforeAll(async () => {
    joiner = await registerAndLogin(suite.world.api, 'joiner');
    bystander = await registerAndLogin(suite.world.api, 'bystander');
  });

  // One test per route, so a failure names its route; each caller gets an object of its own.
  for (const [key, c] of Object.entries(cases)) {
    it(key, async () => {
      const got: Record<string, Outcome | number> = {};
      for (const who of CALLERS) {
        const f = await fresh(who);
        const before = await stateOf(f);
        const res = await send(who, methodOf(key), c.request(f, who));
        got[who] = outcomeOf(res);
        if (got[who] !== c.expected[who]) continue;
        if (res.status < 400) continue;
        const where = `${key} as ${who}`;
        expectProblem(res, res.status);
        expect(await stateOf(f), `${where} changed the object`).toEqual(before);
        if (res.status === 404 || res.status === 422) {
          // As a missing object, byte for byte: the same request with the object's ids made unknown.
          const gone = Object.fromEntries((c.missing?.(who) ?? (Object.keys(f) as (keyof Fresh)[])).map((k) => [k, MISSING]));
          const missing = await send(who, methodOf(key), c.request({ ...f, ...gone, label: `${gone.label ?? f.label}` }, who));
          expect(res.text, where).toBe(missing.text);
          expect(res.headers.get('content-length'), where).toBe(missing.headers.get('content-length'));
          expect(res.headers.get('etag'), where).toBeNull();
        }
      }
      expect(got).toEqual(c.expected);
    });
  }
});
