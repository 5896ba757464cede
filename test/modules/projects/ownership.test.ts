import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import { AMQP_URL, uniqueExchange } from '../../helpers/rabbitmq.js';
import type { Account } from '../../helpers/security.js';

let ctx: TestContext;
let owner: Account;
let admin: Account;

beforeAll(async () => {
  // Events on: the outbox is read back below (the publisher sends them to a throwaway exchange).
  ctx = await setupTestApp({
    amqpUrl: AMQP_URL,
    events: { exchange: uniqueExchange('projects'), batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
  });
  owner = await registerAndLogin(ctx.api, 'oowner');
  admin = await registerAndLogin(ctx.api, 'oadmin');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
});
afterAll(() => ctx?.close());

async function projectWithEditors(n: number): Promise<{ id: number; editors: Account[] }> {
  const id = (await ctx.api.post('/projects', { name: 'contested' }, { token: owner.token })).body.id as number;
  const editors: Account[] = [];
  for (let i = 0; i < n; i++) {
    const editor = await registerAndLogin(ctx.api, 'oeditor');
    const added = await ctx.api.post(
      `/projects/${id}/members`,
      { username: editor.username, role: 'editor' },
      { token: owner.token },
    );
    expect(added.status).toBe(201);
    editors.push(editor);
  }
  return { id, editors };
}

const owners = async (projectId: number) =>
  (
    await ctx.db.pool.query("SELECT user_id::int AS id FROM project_members WHERE project_id = $1 AND role = 'owner'", [
      projectId,
    ])
  ).rows.map((r) => r.id as number);

describe('exactly one owner', () => {
  it('holds under concurrent hand-overs by the owner: one wins, the others find they are no longer the owner (403)', async () => {
    const { id, editors } = await projectWithEditors(6);
    const results = await Promise.all(
      editors.map((e) => ctx.api.patch(`/projects/${id}/members/${e.id}`, { role: 'owner' }, { token: owner.token })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 403, 403, 403, 403, 403]);
    const winner = results.find((r) => r.status === 200)?.body.user_id;
    expect(await owners(id)).toEqual([winner]);
    const roles = await ctx.db.pool.query(
      'SELECT user_id::int AS id, role::text AS role FROM project_members WHERE project_id = $1',
      [id],
    );
    expect(roles.rows).toContainEqual({ id: owner.id, role: 'editor' });
  });

  it('holds under concurrent hand-overs by an admin: each runs after the other, one owner at the end', async () => {
    const { id, editors } = await projectWithEditors(6);
    const results = await Promise.all(
      editors.map((e) => ctx.api.patch(`/projects/${id}/members/${e.id}`, { role: 'owner' }, { token: admin.token })),
    );
    expect(results.map((r) => r.status)).toEqual(editors.map(() => 200));
    const [only] = await owners(id);
    expect(await owners(id)).toHaveLength(1);
    expect(editors.map((e) => e.id)).toContain(only);
    const project = await ctx.api.get(`/projects/${id}`, { token: admin.token });
    expect(project.body.owner_id).toBe(only);
  });

  it('holds under a hand-over racing the owner leaving: never zero owners', async () => {
    const { id, editors } = await projectWithEditors(1);
    const [handOver, leave] = await Promise.all([
      ctx.api.patch(`/projects/${id}/members/${editors[0]?.id}`, { role: 'owner' }, { token: owner.token }),
      ctx.api.delete(`/projects/${id}/members/${owner.id}`, { token: owner.token }),
    ]);
    expect(handOver.status).toBe(200);
    // Either the owner left after handing over (204), or tried before and was refused (409).
    expect([204, 409]).toContain(leave.status);
    expect(await owners(id)).toEqual([editors[0]?.id]);
  });

  it('is the database’s rule too: a second owner, no owner, or a project without members is refused', async () => {
    const { id, editors } = await projectWithEditors(1);
    await expect(
      ctx.db.pool.query("UPDATE project_members SET role = 'owner' WHERE project_id = $1 AND user_id = $2", [id, editors[0]?.id]),
    ).rejects.toThrow(/project_members_one_owner_key/);
    await expect(
      ctx.db.pool.query("UPDATE project_members SET role = 'editor' WHERE project_id = $1 AND role = 'owner'", [id]),
    ).rejects.toThrow(/exactly one owner/);
    await expect(ctx.db.pool.query("DELETE FROM project_members WHERE project_id = $1 AND role = 'owner'", [id])).rejects.toThrow(
      /exactly one owner/,
    );
    await expect(ctx.db.pool.query("INSERT INTO projects (name) VALUES ('ownerless')")).rejects.toThrow(/exactly one owner/);
    expect(await owners(id)).toEqual([owner.id]);
    // Deleting the project (its members cascade) is fine.
    await ctx.db.pool.query('DELETE FROM projects WHERE id = $1', [id]);
    expect(await owners(id)).toEqual([]);
  });
});

describe('events', () => {
  const eventsOf = async (projectId: number) =>
    (
      await ctx.db.pool.query<{ type: string; key: string; body: any }>(
        'SELECT type, aggregate_key AS key, payload AS body FROM event_outbox WHERE aggregate_key = $1 ORDER BY id',
        [`project:${projectId}`],
      )
    ).rows;

  it('records each change in the outbox, in order, keyed by the project, with the actor and the data', async () => {
    const member = await registerAndLogin(ctx.api, 'oevents');
    const created = await ctx.api.post('/projects', { name: 'evented', description: 'd' }, { token: owner.token });
    const id = created.body.id as number;
    await ctx.api.patch(`/projects/${id}`, { name: 'evented 2' }, { token: owner.token });
    await ctx.api.patch(`/projects/${id}`, { name: 'evented 2' }, { token: owner.token }); // no change: no event
    await ctx.api.post(`/projects/${id}/members`, { username: member.username, role: 'viewer' }, { token: owner.token });
    await ctx.api.patch(`/projects/${id}/members/${member.id}`, { role: 'editor' }, { token: owner.token });
    await ctx.api.patch(`/projects/${id}/members/${member.id}`, { role: 'owner' }, { token: owner.token });
    await ctx.api.delete(`/projects/${id}/members/${owner.id}`, { token: owner.token });
    // Refused changes record nothing.
    await ctx.api.delete(`/projects/${id}/members/${member.id}`, { token: member.token });
    await ctx.api.delete(`/projects/${id}`, { token: admin.token });

    const events = await eventsOf(id);
    expect(events.map((e) => e.type)).toEqual([
      'project.created',
      'project.updated',
      'project.member_added',
      'project.member_role_changed',
      'project.member_role_changed',
      'project.member_role_changed',
      'project.member_removed',
      'project.deleted',
    ]);
    for (const e of events) {
      expect(Object.keys(e.body)).toEqual(['id', 'type', 'occurred_at', 'actor', 'subject', 'data']);
      expect(e.body.subject).toEqual({ type: 'project', id });
    }
    const [createdEvent, updated, added, promoted, newOwner, formerOwner, removed, deleted] = events.map((e) => e.body);
    expect(createdEvent.actor).toEqual({ id: owner.id, username: owner.username, role: 'user' });
    expect(createdEvent.data).toEqual({
      id,
      name: 'evented',
      description: 'd',
      owner_id: owner.id,
      created_at: created.body.created_at,
      updated_at: created.body.updated_at,
    });
    expect(updated.data).toMatchObject({ name: 'evented 2' });
    expect(added.data).toEqual({
      project_id: id,
      user_id: member.id,
      username: member.username,
      role: 'viewer',
      created_at: expect.any(String),
    });
    expect(promoted.data).toMatchObject({ user_id: member.id, role: 'editor', previous_role: 'viewer' });
    expect(newOwner.data).toMatchObject({ user_id: member.id, role: 'owner', previous_role: 'editor' });
    expect(formerOwner.data).toMatchObject({ user_id: owner.id, role: 'editor', previous_role: 'owner' });
    expect(removed.data).toMatchObject({ project_id: id, user_id: owner.id, role: 'editor' });
    expect(removed.actor.id).toBe(owner.id);
    expect(deleted.actor).toEqual({ id: admin.id, username: admin.username, role: 'admin' });
    expect(deleted.data).toMatchObject({ id, name: 'evented 2', owner_id: member.id });
  });
});
