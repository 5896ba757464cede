import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import { expectProblem } from '../../helpers/security.js';
import { CALLERS, type Caller, type Cast, castProject } from './fixtures.js';

let ctx: TestContext;
let cast: Cast;

beforeAll(async () => {
  ctx = await setupTestApp();
  const admin = await registerAndLogin(ctx.api, 'padmin');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  cast = {
    admin,
    owner: await registerAndLogin(ctx.api, 'powner'),
    editor: await registerAndLogin(ctx.api, 'peditor'),
    viewer: await registerAndLogin(ctx.api, 'pviewer'),
    outsider: await registerAndLogin(ctx.api, 'poutsider'),
  };
});
afterAll(() => ctx?.close());

const token = (who: Caller) => cast[who].token;
const MISSING = 2 ** 31 - 1;
const projectRow = async (id: number) => (await ctx.db.pool.query('SELECT * FROM projects WHERE id = $1', [id])).rows[0];
const memberRows = async (id: number) =>
  (
    await ctx.db.pool.query(
      'SELECT user_id::int AS user_id, role::text AS role FROM project_members WHERE project_id = $1 ORDER BY user_id',
      [id],
    )
  ).rows;

/** The outsider's answer is the missing project's, byte for byte, and nothing changed. */
async function expectHidden(send: (id: number) => Promise<{ status: number; text: string }>, id: number) {
  const before = [await projectRow(id), await memberRows(id)];
  const foreign = await send(id);
  const missing = await send(MISSING);
  expect(foreign.status).toBe(404);
  expect(foreign.text).toBe(missing.text);
  expect([await projectRow(id), await memberRows(id)]).toEqual(before);
}

describe('POST /projects', () => {
  it('creates a project owned by the caller: 201, Location, the caller is its only member, as owner', async () => {
    const res = await ctx.api.post(
      '/projects',
      { name: '  Website relaunch \u0085', description: 'spring' },
      { token: token('owner') },
    );
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v1/projects/${res.body.id}`);
    expect(res.body).toEqual({
      id: expect.any(Number),
      name: 'Website relaunch',
      description: 'spring',
      owner_id: cast.owner.id,
      role: 'owner',
      created_at: expect.any(String),
      updated_at: res.body.created_at,
    });
    expect(await memberRows(res.body.id)).toEqual([{ user_id: cast.owner.id, role: 'owner' }]);
    const read = await ctx.api.get(res.headers.get('location')?.replace('/api/v1', '') ?? '', { token: token('owner') });
    expect(read.body).toEqual(res.body);
  });

  it('an admin creates one too and owns it; description defaults to null', async () => {
    const res = await ctx.api.post('/projects', { name: 'admin project' }, { token: token('admin') });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ owner_id: cast.admin.id, role: 'owner', description: null });
  });

  it.each<[Record<string, unknown>, string]>([
    [{}, 'name'],
    [{ name: '' }, 'name'],
    [{ name: '   ' }, 'name'],
    [{ name: 'x'.repeat(101) }, 'name'],
    [{ name: 'a\u0000b' }, 'name'],
    [{ name: 42 }, 'name'],
    [{ name: 'ok', description: 'x'.repeat(10_001) }, 'description'],
    [{ name: 'ok', owner_id: 1 }, 'owner_id'],
    [{ name: 'ok', role: 'viewer' }, 'role'],
  ])('refuses bad body %# with a 422 naming the field', async (body, field) => {
    const res = await ctx.api.post('/projects', body, { token: token('owner') });
    expectProblem(res, 422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('takes a name of 100 characters after trimming, and a description of 10,000', async () => {
    const res = await ctx.api.post(
      '/projects',
      { name: ` ${'n'.repeat(100)} `, description: 'd'.repeat(10_000) },
      { token: token('owner') },
    );
    expect(res.status).toBe(201);
    expect(res.body.name).toBe('n'.repeat(100));
  });

  it('needs a token', async () => {
    expectProblem(await ctx.api.post('/projects', { name: 'x' }), 401);
  });
});

describe('GET /projects', () => {
  it('lists the projects the caller is a member of, with their role; admins see every project', async () => {
    const id = await castProject(ctx.api, cast, 'listed-unique-zebra');
    const byCaller: Record<Caller, unknown> = {
      outsider: undefined,
      viewer: 'viewer',
      editor: 'editor',
      owner: 'owner',
      admin: null,
    };
    for (const who of CALLERS) {
      const res = await ctx.api.get('/projects?q=listed-unique-zebra', { token: token(who) });
      expect(res.status).toBe(200);
      const found = res.body.find((p: { id: number }) => p.id === id);
      if (byCaller[who] === undefined) {
        expect(found, who).toBeUndefined();
        expect(res.headers.get('x-total-count')).toBe('0');
      } else {
        expect(found, who).toMatchObject({ id, owner_id: cast.owner.id, role: byCaller[who] });
        expect(res.headers.get('x-total-count')).toBe('1');
      }
    }
  });

  it('pages with limit and offset, X-Total-Count and Link keeping the filters, sorted and filtered by role', async () => {
    const pager = await registerAndLogin(ctx.api, 'pager');
    const names = ['Charlie', 'alpha', 'Bravo', 'delta', 'echo'];
    for (const name of names) await ctx.api.post('/projects', { name }, { token: pager.token });
    const first = await ctx.api.get('/projects?sort=name&limit=2', { token: pager.token });
    expect(first.body.map((p: { name: string }) => p.name)).toEqual(['alpha', 'Bravo']);
    expect(first.headers.get('x-total-count')).toBe('5');
    expect(first.headers.get('link')).toContain('</api/v1/projects?sort=name&limit=2&offset=2>; rel="next"');
    const last = await ctx.api.get('/projects?sort=-name&limit=2&offset=4', { token: pager.token });
    expect(last.body.map((p: { name: string }) => p.name)).toEqual(['alpha']);
    const past = await ctx.api.get('/projects?limit=2&offset=10', { token: pager.token });
    expect([past.body, past.headers.get('x-total-count')]).toEqual([[], '5']);
    const newest = await ctx.api.get('/projects?limit=1', { token: pager.token });
    expect(newest.body[0].name).toBe('echo');
    const asViewer = await ctx.api.get('/projects?role=viewer', { token: pager.token });
    expect(asViewer.body).toEqual([]);
    const asOwner = await ctx.api.get('/projects?role=viewer,owner', { token: pager.token });
    expect(asOwner.headers.get('x-total-count')).toBe('5');
  });

  it.each(['limit=0', 'limit=101', 'offset=-1', 'sort=owner_id', 'role=admin', 'role=owner,', 'unknown=1', 'q='])(
    'refuses ?%s with a 422',
    async (query) => {
      expectProblem(await ctx.api.get(`/projects?${query}`, { token: token('owner') }), 422);
    },
  );
});

describe('GET /projects/{id}', () => {
  it('members and admins read it, each with their own role; an outsider gets the 404 of a missing project', async () => {
    const id = await castProject(ctx.api, cast);
    for (const [who, role] of [
      ['viewer', 'viewer'],
      ['editor', 'editor'],
      ['owner', 'owner'],
      ['admin', null],
    ] as const) {
      const res = await ctx.api.get(`/projects/${id}`, { token: token(who) });
      expect(res.status, who).toBe(200);
      expect(res.body).toMatchObject({ id, role, owner_id: cast.owner.id });
    }
    await expectHidden((p) => ctx.api.get(`/projects/${p}`, { token: token('outsider') }), id);
    expectProblem(await ctx.api.get('/projects/abc', { token: token('owner') }), 422);
  });
});

describe('PATCH /projects/{id}', () => {
  it('the owner, an editor and an admin rename and describe; a viewer gets 403; an outsider 404', async () => {
    const id = await castProject(ctx.api, cast);
    for (const who of ['owner', 'editor', 'admin'] as const) {
      const res = await ctx.api.patch(`/projects/${id}`, { name: ` by ${who} `, description: who }, { token: token(who) });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ name: `by ${who}`, description: who });
      expect(new Date(res.body.updated_at).getTime()).toBeGreaterThan(new Date(res.body.created_at).getTime());
    }
    const before = await projectRow(id);
    const viewer = await ctx.api.patch(`/projects/${id}`, { name: 'by viewer' }, { token: token('viewer') });
    expectProblem(viewer, 403);
    expect(await projectRow(id)).toEqual(before);
    await expectHidden((p) => ctx.api.patch(`/projects/${p}`, { name: 'by outsider' }, { token: token('outsider') }), id);
  });

  it('keeps what is not sent; null clears the description; refuses an empty body and other fields', async () => {
    const id = (await ctx.api.post('/projects', { name: 'keep', description: 'kept' }, { token: token('owner') })).body.id;
    const renamed = await ctx.api.patch(`/projects/${id}`, { name: 'renamed' }, { token: token('owner') });
    expect(renamed.body).toMatchObject({ name: 'renamed', description: 'kept' });
    const cleared = await ctx.api.patch(`/projects/${id}`, { description: null }, { token: token('owner') });
    expect(cleared.body).toMatchObject({ name: 'renamed', description: null });
    for (const body of [{}, { owner_id: cast.outsider.id }, { name: '' }, { id: 1, name: 'x' }]) {
      expectProblem(await ctx.api.patch(`/projects/${id}`, body, { token: token('owner') }), 422);
    }
  });
});

describe('DELETE /projects/{id}', () => {
  it('only the owner or an admin deletes (editor, viewer: 403; outsider: 404); memberships go with it', async () => {
    const id = await castProject(ctx.api, cast);
    for (const who of ['editor', 'viewer'] as const) {
      expectProblem(await ctx.api.delete(`/projects/${id}`, { token: token(who) }), 403);
    }
    await expectHidden((p) => ctx.api.delete(`/projects/${p}`, { token: token('outsider') }), id);
    expect((await ctx.api.delete(`/projects/${id}`, { token: token('owner') })).status).toBe(204);
    expect(await projectRow(id)).toBeUndefined();
    expect(await memberRows(id)).toEqual([]);
    expectProblem(await ctx.api.get(`/projects/${id}`, { token: token('owner') }), 404);

    const other = await castProject(ctx.api, cast);
    expect((await ctx.api.delete(`/projects/${other}?with_tasks=true`, { token: token('admin') })).status).toBe(204);
    expect(await projectRow(other)).toBeUndefined();
  });

  it('takes with_tasks as a boolean only', async () => {
    const id = await castProject(ctx.api, cast);
    expectProblem(await ctx.api.delete(`/projects/${id}?with_tasks=maybe`, { token: token('owner') }), 422);
    expectProblem(await ctx.api.delete(`/projects/${id}?force=true`, { token: token('owner') }), 422);
    expect(await projectRow(id)).toBeDefined();
  });
});

describe('GET /projects/{id}/members', () => {
  it('any member and an admin list them, owner first, then editors and viewers; an outsider gets 404', async () => {
    const id = await castProject(ctx.api, cast);
    const expected = [
      { user_id: cast.owner.id, username: cast.owner.username, role: 'owner', created_at: expect.any(String) },
      { user_id: cast.editor.id, username: cast.editor.username, role: 'editor', created_at: expect.any(String) },
      { user_id: cast.viewer.id, username: cast.viewer.username, role: 'viewer', created_at: expect.any(String) },
    ];
    for (const who of ['owner', 'editor', 'viewer', 'admin'] as const) {
      const res = await ctx.api.get(`/projects/${id}/members`, { token: token(who) });
      expect(res.status, who).toBe(200);
      expect(res.body).toEqual(expected);
      expect(res.headers.get('x-total-count')).toBe('3');
    }
    const paged = await ctx.api.get(`/projects/${id}/members?limit=1&offset=1`, { token: token('viewer') });
    expect(paged.body).toEqual([expected[1]]);
    expect(paged.headers.get('link')).toContain('rel="next"');
    await expectHidden((p) => ctx.api.get(`/projects/${p}/members`, { token: token('outsider') }), id);
    expectProblem(await ctx.api.get(`/projects/${MISSING}/members`, { token: token('admin') }), 404);
  });
});

describe('POST /projects/{id}/members', () => {
  it('the owner or an admin adds; editor and viewer get 403; outsider 404', async () => {
    const id = await castProject(ctx.api, cast);
    const newcomer = await registerAndLogin(ctx.api, 'newcomer');
    for (const who of ['editor', 'viewer'] as const) {
      expectProblem(
        await ctx.api.post(`/projects/${id}/members`, { username: newcomer.username, role: 'viewer' }, { token: token(who) }),
        403,
      );
    }
    await expectHidden(
      (p) =>
        ctx.api.post(`/projects/${p}/members`, { username: newcomer.username, role: 'viewer' }, { token: token('outsider') }),
      id,
    );
    const added = await ctx.api.post(
      `/projects/${id}/members`,
      { username: newcomer.username.toUpperCase(), role: 'editor' },
      { token: token('owner') },
    );
    expect(added.status, added.text).toBe(201);
    expect(added.body).toEqual({
      user_id: newcomer.id,
      username: newcomer.username,
      role: 'editor',
      created_at: expect.any(String),
    });
    expect((await ctx.api.get(`/projects/${id}`, { token: newcomer.token })).body.role).toBe('editor');
    const byAdmin = await registerAndLogin(ctx.api, 'byadmin');
    expect(
      (await ctx.api.post(`/projects/${id}/members`, { username: byAdmin.username, role: 'viewer' }, { token: token('admin') }))
        .status,
    ).toBe(201);
  });

  it('already a member is a 409; an unknown username a 422 naming username; owner is not a role to give', async () => {
    const id = await castProject(ctx.api, cast);
    const again = await ctx.api.post(
      `/projects/${id}/members`,
      { username: cast.viewer.username, role: 'editor' },
      { token: token('owner') },
    );
    expectProblem(again, 409);
    const owner = await ctx.api.post(
      `/projects/${id}/members`,
      { username: cast.owner.username, role: 'viewer' },
      { token: token('owner') },
    );
    expectProblem(owner, 409);
    const unknown = await ctx.api.post(
      `/projects/${id}/members`,
      { username: 'nobody_here', role: 'viewer' },
      { token: token('owner') },
    );
    expectProblem(unknown, 422);
    expect(unknown.body.errors).toEqual([{ location: 'body', field: 'username', message: expect.any(String) }]);
    for (const body of [
      { username: cast.outsider.username, role: 'owner' },
      { username: cast.outsider.username },
      { role: 'viewer' },
      { username: 'a b', role: 'viewer' },
      { username: cast.outsider.username, role: 'viewer', user_id: 1 },
    ]) {
      expectProblem(await ctx.api.post(`/projects/${id}/members`, body, { token: token('owner') }), 422);
    }
    expect((await memberRows(id)).length).toBe(3);
  });
});

describe('PATCH /projects/{id}/members/{user_id}', () => {
  it('the owner or an admin changes roles; editor and viewer get 403; outsider 404; a non-member 404', async () => {
    const id = await castProject(ctx.api, cast);
    for (const who of ['editor', 'viewer'] as const) {
      expectProblem(
        await ctx.api.patch(`/projects/${id}/members/${cast.viewer.id}`, { role: 'editor' }, { token: token(who) }),
        403,
      );
    }
    await expectHidden(
      (p) => ctx.api.patch(`/projects/${p}/members/${cast.viewer.id}`, { role: 'editor' }, { token: token('outsider') }),
      id,
    );
    const promoted = await ctx.api.patch(
      `/projects/${id}/members/${cast.viewer.id}`,
      { role: 'editor' },
      { token: token('owner') },
    );
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({ user_id: cast.viewer.id, role: 'editor' });
    const demoted = await ctx.api.patch(
      `/projects/${id}/members/${cast.viewer.id}`,
      { role: 'viewer' },
      { token: token('admin') },
    );
    expect(demoted.body.role).toBe('viewer');
    expectProblem(
      await ctx.api.patch(`/projects/${id}/members/${cast.outsider.id}`, { role: 'viewer' }, { token: token('owner') }),
      404,
    );
    expectProblem(
      await ctx.api.patch(`/projects/${id}/members/${cast.viewer.id}`, { role: 'admin' }, { token: token('owner') }),
      422,
    );
    expectProblem(await ctx.api.patch(`/projects/${id}/members/0`, { role: 'viewer' }, { token: token('owner') }), 422);
  });

  it('hands ownership to an editor: the old owner becomes an editor, at once', async () => {
    const id = await castProject(ctx.api, cast);
    const res = await ctx.api.patch(`/projects/${id}/members/${cast.editor.id}`, { role: 'owner' }, { token: token('owner') });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ user_id: cast.editor.id, role: 'owner' });
    expect(await memberRows(id)).toEqual(
      expect.arrayContaining([
        { user_id: cast.owner.id, role: 'editor' },
        { user_id: cast.editor.id, role: 'owner' },
      ]),
    );
    const project = await ctx.api.get(`/projects/${id}`, { token: token('owner') });
    expect(project.body).toMatchObject({ owner_id: cast.editor.id, role: 'editor' });
    // The former owner lost the owner's rights on the next request.
    expectProblem(await ctx.api.delete(`/projects/${id}`, { token: token('owner') }), 403);
    // And an admin can hand it back.
    const back = await ctx.api.patch(`/projects/${id}/members/${cast.owner.id}`, { role: 'owner' }, { token: token('admin') });
    expect(back.body.role).toBe('owner');
    expect((await ctx.api.get(`/projects/${id}`, { token: token('viewer') })).body.owner_id).toBe(cast.owner.id);
  });

  it('ownership goes only to an editor, and the owner’s own role changes only by a hand-over (409s)', async () => {
    const id = await castProject(ctx.api, cast);
    const before = await memberRows(id);
    expectProblem(
      await ctx.api.patch(`/projects/${id}/members/${cast.viewer.id}`, { role: 'owner' }, { token: token('owner') }),
      409,
    );
    expectProblem(
      await ctx.api.patch(`/projects/${id}/members/${cast.owner.id}`, { role: 'editor' }, { token: token('owner') }),
      409,
    );
    expectProblem(
      await ctx.api.patch(`/projects/${id}/members/${cast.owner.id}`, { role: 'viewer' }, { token: token('admin') }),
      409,
    );
    expect(await memberRows(id)).toEqual(before);
    // The same role again changes nothing.
    const same = await ctx.api.patch(`/projects/${id}/members/${cast.owner.id}`, { role: 'owner' }, { token: token('owner') });
    expect(same.body.role).toBe('owner');
    expect(await memberRows(id)).toEqual(before);
  });
});

describe('DELETE /projects/{id}/members/{user_id}', () => {
  it('the owner or an admin removes others; editor and viewer may not (403); outsider 404', async () => {
    const id = await castProject(ctx.api, cast);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.viewer.id}`, { token: token('editor') }), 403);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.editor.id}`, { token: token('viewer') }), 403);
    await expectHidden((p) => ctx.api.delete(`/projects/${p}/members/${cast.viewer.id}`, { token: token('outsider') }), id);
    expect((await ctx.api.delete(`/projects/${id}/members/${cast.viewer.id}`, { token: token('owner') })).status).toBe(204);
    expect((await ctx.api.delete(`/projects/${id}/members/${cast.editor.id}`, { token: token('admin') })).status).toBe(204);
    expect(await memberRows(id)).toEqual([{ user_id: cast.owner.id, role: 'owner' }]);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.viewer.id}`, { token: token('owner') }), 404);
  });

  it('any member may leave; the owner cannot leave nor be removed (409) until they hand over', async () => {
    const id = await castProject(ctx.api, cast);
    expect((await ctx.api.delete(`/projects/${id}/members/${cast.viewer.id}`, { token: token('viewer') })).status).toBe(204);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.owner.id}`, { token: token('owner') }), 409);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.owner.id}`, { token: token('admin') }), 409);
    expectProblem(await ctx.api.delete(`/projects/${id}/members/${cast.owner.id}`, { token: token('editor') }), 403);
    await ctx.api.patch(`/projects/${id}/members/${cast.editor.id}`, { role: 'owner' }, { token: token('owner') });
    expect((await ctx.api.delete(`/projects/${id}/members/${cast.owner.id}`, { token: token('owner') })).status).toBe(204);
    expect(await memberRows(id)).toEqual([{ user_id: cast.editor.id, role: 'owner' }]);
  });

  it('a removal or a role change applies to that user’s very next request', async () => {
    const id = await castProject(ctx.api, cast);
    expect((await ctx.api.patch(`/projects/${id}`, { name: 'editor edit' }, { token: token('editor') })).status).toBe(200);
    await ctx.api.patch(`/projects/${id}/members/${cast.editor.id}`, { role: 'viewer' }, { token: token('owner') });
    expectProblem(await ctx.api.patch(`/projects/${id}`, { name: 'editor edit 2' }, { token: token('editor') }), 403);
    expect((await ctx.api.get(`/projects/${id}/members`, { token: token('viewer') })).status).toBe(200);
    await ctx.api.delete(`/projects/${id}/members/${cast.viewer.id}`, { token: token('owner') });
    for (const path of [`/projects/${id}`, `/projects/${id}/members`]) {
      expectProblem(await ctx.api.get(path, { token: token('viewer') }), 404);
    }
    const listed = await ctx.api.get('/projects?limit=100', { token: token('viewer') });
    expect(listed.body.map((p: { id: number }) => p.id)).not.toContain(id);
  });
});
