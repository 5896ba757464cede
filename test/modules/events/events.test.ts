import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { createDatabase } from '../../../src/db/pool.js';
import { ensureAdminAccount } from '../../../src/modules/users/admin-account.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import {
  AMQP_URL,
  collectEvents,
  type EventCollector,
  type ReceivedEvent,
  uniqueExchange,
  until,
} from '../../helpers/rabbitmq.js';

const ENVELOPE_KEYS = ['actor', 'data', 'id', 'occurred_at', 'subject', 'type'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let db: TestDatabase;
let app: TestApp;
let collector: EventCollector;
const exchange = uniqueExchange('changes');

beforeAll(async () => {
  db = await createTestDatabase();
  // Bound before anything is published: the exchange drops what no queue is bound to yet.
  collector = await collectEvents(AMQP_URL, exchange);
  app = await startApp(
    testConfig(db.url, {
      amqpUrl: AMQP_URL,
      events: { exchange, batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
    }),
  );
});
afterAll(async () => {
  await app?.close();
  await collector?.close();
  await db?.drop();
});

async function outboxCounts(pool = db.pool): Promise<{ total: number; unsent: number }> {
  const { rows } = await pool.query<{ total: number; unsent: number }>(
    'SELECT (SELECT count(*) FROM event_outbox)::int AS total, (SELECT count(*) FROM event_outbox_pending)::int AS unsent',
  );
  return rows[0] as { total: number; unsent: number };
}

/**
 * Waits until every outbox row is published and that many events have arrived, then returns the
 * events received since `from`. Exact: the outbox total and the number received must agree.
 */
async function settled(from: number): Promise<ReceivedEvent[]> {
  await until('the outbox to drain', async () => (await outboxCounts()).unsent === 0);
  const { total } = await outboxCounts();
  await collector.waitForCount(total);
  expect(collector.events.length).toBe(total);
  return collector.events.slice(from);
}

describe('events for each change', () => {
  it('each change publishes exactly its event; no-ops and refused requests publish none', async () => {
    const api = app.api;
    const alice = await registerAndLogin(api, 'alice');
    const root = await registerAndLogin(api, 'root');
    // Made admin behind the API's back: no event for that.
    await db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [root.id]);

    let seen = (await settled(0)).length;
    const registered = collector.events.slice(0, 2);
    expect(registered.map((e) => [e.body.type, e.body.subject.id])).toEqual([
      ['user.registered', alice.id],
      ['user.registered', root.id],
    ]);
    expect(registered[0]?.body.actor).toBeNull();
    expect(registered[0]?.body.data).toMatchObject({ id: alice.id, username: alice.username, role: 'user', is_active: true });

    const created = await api.post('/tasks', { title: 'Write the report', priority: 'high' }, { token: alice.token });
    expect(created.status).toBe(201);
    const task = created.body;
    const updated = await api.patch(`/tasks/${task.id}`, { status: 'in_progress' }, { token: alice.token });
    expect(updated.status).toBe(200);
    // Refused or empty: a stale If-Match (412), a bad body (422), a change to the same values, another user's task (404).
    expect(
      (
        await api.patch(
          `/tasks/${task.id}`,
          { title: 'x' },
          { token: alice.token, headers: { 'if-match': created.headers.get('etag') as string } },
        )
      ).status,
    ).toBe(412);
    expect((await api.patch(`/tasks/${task.id}`, { status: 'sleeping' }, { token: alice.token })).status).toBe(422);
    expect((await api.patch(`/tasks/${task.id}`, { status: 'in_progress' }, { token: alice.token })).status).toBe(200);
    const bob = await registerAndLogin(api, 'bob');
    expect((await api.delete(`/tasks/${task.id}`, { token: bob.token })).status).toBe(404);
    expect(
      (
        await api.delete(`/tasks/${task.id}`, {
          token: alice.token,
          headers: { 'if-match': created.headers.get('etag') as string },
        })
      ).status,
    ).toBe(412);
    // An idempotent create replayed: one task, one event.
    const key = { 'idempotency-key': 'events-once' };
    const first = await api.post('/tasks', { title: 'Once' }, { token: alice.token, headers: key });
    const replay = await api.post('/tasks', { title: 'Once' }, { token: alice.token, headers: key });
    expect([first.status, replay.status, replay.headers.get('idempotent-replayed')]).toEqual([201, 201, 'true']);
    // The admin edits alice's task and then deletes it.
    const edited = await api.put(`/tasks/${task.id}`, { title: 'Report, reviewed' }, { token: root.token });
    expect(edited.status).toBe(200);
    expect((await api.delete(`/tasks/${task.id}`, { token: root.token })).status).toBe(204);

    let events = await settled(seen);
    seen += events.length;
    expect(events.map((e) => [e.body.type, e.body.subject.type, e.body.subject.id])).toEqual([
      ['task.created', 'task', task.id],
      ['task.updated', 'task', task.id],
      ['user.registered', 'user', bob.id],
      ['task.created', 'task', first.body.id],
      ['task.updated', 'task', task.id],
      ['task.deleted', 'task', task.id],
    ]);
    const [createdEvent, updatedEvent, , , editedEvent, deletedEvent] = events as [
      ReceivedEvent,
      ReceivedEvent,
      ReceivedEvent,
      ReceivedEvent,
      ReceivedEvent,
      ReceivedEvent,
    ];
    // The resource after the change, exactly as the API answered.
    expect(createdEvent.body.data).toEqual(task);
    expect(updatedEvent.body.data).toEqual(updated.body);
    expect(editedEvent.body.data).toEqual(edited.body);
    expect(deletedEvent.body.data).toEqual(edited.body);
    expect(createdEvent.body.actor).toEqual({ id: alice.id, username: alice.username, role: 'user' });
    expect(editedEvent.body.actor).toEqual({ id: root.id, username: root.username, role: 'admin' });
    for (const event of collector.events) {
      expect(Object.keys(event.body).sort()).toEqual(ENVELOPE_KEYS);
      expect(event.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(event.body.occurred_at).toMatch(ISO_UTC);
      expect(event.routingKey).toBe(event.body.type);
      expect(event.properties).toMatchObject({
        contentType: 'application/json',
        messageId: event.body.id,
        type: event.body.type,
        deliveryMode: 2,
        appId: 'task-api',
      });
      expect(typeof event.properties.timestamp).toBe('number');
      expect(JSON.stringify(event.body)).not.toMatch(/hashed_password|\$2[aby]\$/);
    }

    // Role and activity: each true transition once; repeating a change is a no-op.
    const patch = (body: object) => api.patch(`/users/${alice.id}`, body, { token: root.token });
    expect((await patch({ is_active: false })).status).toBe(200);
    expect((await patch({ is_active: false })).status).toBe(200);
    expect((await patch({ role: 'admin' })).status).toBe(200);
    expect((await patch({ role: 'admin' })).status).toBe(200);
    expect((await patch({ is_active: true })).status).toBe(200);
    expect((await patch({ role: 'user', is_active: false })).status).toBe(200);
    expect((await api.patch('/users/987654321', { role: 'admin' }, { token: root.token })).status).toBe(404);
    expect((await api.patch(`/users/${alice.id}`, { role: 'root' }, { token: root.token })).status).toBe(422);
    // The last active admin cannot be demoted: 409, and no event.
    expect((await api.patch(`/users/${root.id}`, { role: 'user' }, { token: root.token })).status).toBe(409);

    events = await settled(seen);
    expect(events.map((e) => [e.body.type, e.body.subject.id])).toEqual([
      ['user.deactivated', alice.id],
      ['user.role_changed', alice.id],
      ['user.reactivated', alice.id],
      ['user.role_changed', alice.id],
      ['user.deactivated', alice.id],
    ]);
    expect(events[1]?.body.data).toMatchObject({ id: alice.id, role: 'admin', is_active: false });
    expect(events[4]?.body.data).toMatchObject({ id: alice.id, role: 'user', is_active: false });
    expect(events.every((e) => (e.body.actor as { id: number }).id === root.id)).toBe(true);
  });

  it('concurrent updates with one If-Match: one wins, with one event; a duplicate registration makes none', async () => {
    const seen = (await settled(0)).length;
    const carol = await registerAndLogin(app.api, 'carol');
    const created = await app.api.post('/tasks', { title: 'Contested' }, { token: carol.token });
    const etag = created.headers.get('etag') as string;
    // Another writer holds the task while the eight arrive, so they all meet at the row, not one after another.
    const holder = await db.pool.connect();
    let answers: Awaited<ReturnType<typeof app.api.patch>>[];
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE', [created.body.id]);
      const pending = Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          app.api.patch(
            `/tasks/${created.body.id}`,
            { title: `writer ${i}` },
            { token: carol.token, headers: { 'if-match': etag } },
          ),
        ),
      );
      await until('all eight to wait for the row', async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return rows[0]?.n === 8;
      });
      await holder.query('COMMIT');
      answers = await pending;
    } finally {
      holder.release();
    }
    expect(answers.map((a) => a.status).sort()).toEqual([200, 412, 412, 412, 412, 412, 412, 412]);
    const duplicate = await app.api.post('/auth/register', {
      username: carol.username,
      email: 'other@example.com',
      password: carol.password,
    });
    expect(duplicate.status).toBe(409);
    const events = await settled(seen);
    expect(events.map((e) => e.body.type)).toEqual(['user.registered', 'task.created', 'task.updated']);
    expect(events[2]?.body.data).toEqual(answers.find((a) => a.status === 200)?.body);
  });

  it('task events carry due_at in data, in UTC as the API shows it, and null once cleared', async () => {
    const seen = (await settled(0)).length;
    const dana = await registerAndLogin(app.api, 'dana');
    const created = await app.api.post(
      '/tasks',
      { title: 'Due soon', due_at: '2026-12-24T18:00:00+01:00' },
      { token: dana.token },
    );
    expect(created.status).toBe(201);
    const moved = await app.api.put(
      `/tasks/${created.body.id}`,
      { due_at: '2027-01-05T09:30:00.250-05:00' },
      { token: dana.token },
    );
    expect(moved.status).toBe(200);
    // The same instant in another offset changes nothing: no event.
    expect(
      (await app.api.patch(`/tasks/${created.body.id}`, { due_at: '2027-01-05T14:30:00.250Z' }, { token: dana.token })).status,
    ).toBe(200);
    const cleared = await app.api.patch(`/tasks/${created.body.id}`, { due_at: null }, { token: dana.token });
    expect(cleared.status).toBe(200);
    expect((await app.api.delete(`/tasks/${created.body.id}`, { token: dana.token })).status).toBe(204);
    const events = (await settled(seen)).map((e) => ({ type: e.body.type, data: e.body.data as Record<string, unknown> }));
    expect(events.map((e) => [e.type, e.data.due_at])).toEqual([
      ['user.registered', undefined],
      ['task.created', '2026-12-24T17:00:00.000Z'],
      ['task.updated', '2027-01-05T14:30:00.250Z'],
      ['task.updated', null],
      ['task.deleted', null],
    ]);
    // Exactly the task as the API answered, its fields in the same order.
    expect(events[1]?.data).toEqual(created.body);
    expect(events[2]?.data).toEqual(moved.body);
    expect(events[3]?.data).toEqual(cleared.body);
    expect(Object.keys(events[1]?.data ?? {})).toEqual(Object.keys(created.body));
  });

  it("a label rename, merge and delete publish label.renamed and label.deleted, routed by their type, with their tasks' updates", async () => {
    const seen = (await settled(0)).length;
    const erin = await registerAndLogin(app.api, 'erin');
    const one = await app.api.post('/tasks', { title: 'Labelled', labels: ['Home', 'garden'] }, { token: erin.token });
    expect(one.status).toBe(201);
    const label = (name: string) => `/labels/${encodeURIComponent(name)}`;
    expect((await app.api.patch(label('home'), { name: 'House' }, { token: erin.token })).status).toBe(200);
    expect((await app.api.patch(label('garden'), { name: 'HOUSE' }, { token: erin.token })).status).toBe(200);
    expect((await app.api.patch(label('house'), { name: 'House' }, { token: erin.token })).status).toBe(200);
    expect((await app.api.delete(label('House'), { token: erin.token })).status).toBe(204);
    expect((await app.api.delete(label('House'), { token: erin.token })).status).toBe(404);
    const events = (await settled(seen)).filter((e) => e.body.type !== 'user.registered');
    expect(events.map((e) => [e.routingKey, e.body.subject.type, e.body.subject.id])).toEqual([
      ['task.created', 'task', one.body.id],
      ['task.updated', 'task', one.body.id],
      ['label.renamed', 'user', erin.id],
      ['task.updated', 'task', one.body.id],
      ['label.renamed', 'user', erin.id],
      ['task.updated', 'task', one.body.id],
      ['label.deleted', 'user', erin.id],
    ]);
    expect(events.filter((e) => e.body.type.startsWith('label.')).map((e) => e.body.data)).toEqual([
      { user_id: erin.id, name: 'House', previous_name: 'Home', merged: false, task_count: 1 },
      { user_id: erin.id, name: 'House', previous_name: 'garden', merged: true, task_count: 1 },
      { user_id: erin.id, name: 'House', task_count: 1 },
    ]);
    expect(events.at(-1)?.body.actor).toEqual({ id: erin.id, username: erin.username, role: 'user' });
    expect(events.at(-2)?.body.data).toMatchObject({ id: one.body.id, labels: [] });
  });

  it('reports the broker in /readyz for information, and counts what it published in /metrics', async () => {
    const ready = await fetch(`${app.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: object }).checks).toMatchObject({ database: 'ok', amqp: 'ok' });
    const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
    const published = Number(/^events_published_total (\d+)$/m.exec(metrics)?.[1]);
    expect(published).toBe((await outboxCounts()).total);
    expect(metrics).toMatch(/^events_outbox_pending 0$/m);
    expect(metrics).toMatch(/^events_publish_failures_total 0$/m);
  });

  it('prunes sent rows older than the retention and keeps the others', async () => {
    const { rows } = await db.pool.query<{ id: number }>('SELECT id FROM event_outbox ORDER BY id LIMIT 3');
    const [old, recent, unsent] = rows.map((r) => Number(r.id));
    await db.pool.query(`UPDATE event_outbox SET created_at = now() - interval '73 hours' WHERE id = ANY($1::bigint[])`, [
      [old, unsent],
    ]);
    await db.pool.query(`UPDATE event_outbox SET created_at = now() - interval '71 hours' WHERE id = $1`, [recent]);
    // An event still pending is never pruned, however old (say, the broker was down for days).
    await db.pool.query(
      'INSERT INTO event_outbox_pending (id, aggregate_key) SELECT id, aggregate_key FROM event_outbox WHERE id = $1',
      [unsent],
    );
    try {
      expect(await app.app.outboxRepository.pruneSent(72, false)).toBe(1);
      const left = await db.pool.query('SELECT id FROM event_outbox WHERE id = ANY($1::bigint[]) ORDER BY id', [
        [old, recent, unsent],
      ]);
      expect(left.rows.map((r) => Number(r.id))).toEqual([recent, unsent]);
    } finally {
      await db.pool.query('DELETE FROM event_outbox_pending WHERE id = $1', [unsent]);
    }
  });
});

describe('admins made outside a request (create-admin, FIRST_ADMIN_*)', () => {
  it('record their events in the outbox when events are on, with no actor; none when off', async () => {
    const other = await createTestDatabase();
    const database = createDatabase(other.pool);
    const secrets = { bcryptCost: 4, passwordPepper: 'p'.repeat(32), webhooks: { enabled: false }, stream: { enabled: false } };
    const account = (name: string) => ({ username: name, email: `${name}@example.com`, password: 'a-long-password' });
    const outbox = async () =>
      (await other.pool.query('SELECT type, payload FROM event_outbox ORDER BY id')).rows as {
        type: string;
        payload: { actor: unknown; subject: { id: number } };
      }[];
    try {
      const on = { ...secrets, amqpUrl: AMQP_URL };
      const created = await ensureAdminAccount(database, on, account('boss'), { promote: false });
      await other.pool.query("UPDATE users SET role = 'user', is_active = false WHERE id = $1", [created.user.id]);
      const promoted = await ensureAdminAccount(database, on, account('boss'), { promote: true });
      expect(promoted.action).toBe('promoted');
      expect(await ensureAdminAccount(database, on, account('boss'), { promote: true })).toMatchObject({ action: 'unchanged' });
      await ensureAdminAccount(database, secrets, account('quiet'), { promote: false });
      const rows = await outbox();
      expect(rows.map((r) => [r.type, r.payload.subject.id, r.payload.actor])).toEqual([
        ['user.registered', created.user.id, null],
        ['user.role_changed', created.user.id, null],
        ['user.reactivated', created.user.id, null],
      ]);
    } finally {
      await other.drop();
    }
  });
});

describe('events off (no AMQP_URL)', () => {
  it('with webhooks on (the default), writes outbox rows without pending marks', async () => {
    const other = await createTestDatabase();
    const plain = await startApp(testConfig(other.url));
    try {
      const user = await registerAndLogin(plain.api);
      expect((await plain.api.post('/tasks', { title: 'For webhooks' }, { token: user.token })).status).toBe(201);
      expect(await outboxCounts(other.pool)).toEqual({ total: 2, unsent: 0 });
    } finally {
      await plain.close();
      await other.drop();
    }
  });

  it('with webhooks and the stream off too, writes no outbox rows and reports no broker', async () => {
    const other = await createTestDatabase();
    const plain = await startApp(
      testConfig(other.url, {
        webhooks: { ...loadConfig({}).webhooks, enabled: false },
        stream: { ...loadConfig({}).stream, enabled: false },
      }),
    );
    try {
      const user = await registerAndLogin(plain.api);
      const created = await plain.api.post('/tasks', { title: 'Quiet' }, { token: user.token });
      expect((await plain.api.patch(`/tasks/${created.body.id}`, { status: 'completed' }, { token: user.token })).status).toBe(
        200,
      );
      expect((await plain.api.delete(`/tasks/${created.body.id}`, { token: user.token })).status).toBe(204);
      expect(await outboxCounts(other.pool)).toEqual({ total: 0, unsent: 0 });
      const ready = (await (await fetch(`${plain.baseUrl}/readyz`)).json()) as { checks: Record<string, string> };
      expect(ready.checks.amqp).toBeUndefined();
      expect(await (await fetch(`${plain.baseUrl}/metrics`)).text()).not.toContain('events_published_total');
    } finally {
      await plain.close();
      await other.drop();
    }
  });
});

describe('configuration', () => {
  it('is off by default, with documented defaults', () => {
    expect(loadConfig({})).toMatchObject({
      amqpUrl: undefined,
      events: { exchange: 'task-api.events', batchSize: 100, pollIntervalMs: 1000, retentionHours: 72 },
    });
    expect(loadConfig({ AMQP_URL: 'amqps://u:p@mq.example:5671/vh' }).amqpUrl).toBe('amqps://u:p@mq.example:5671/vh');
  });

  it.each([
    [{ AMQP_URL: 'http://mq:5672' }, /^AMQP_URL must be a amqp:\/\/ or amqps:\/\/ URL \(got scheme "http:"\)$/],
    [{ AMQP_URL: 'not a url' }, /^AMQP_URL must be a amqp:\/\/ or amqps:\/\/ URL$/],
    [{ AMQP_EXCHANGE: 'amq.topic' }, /^AMQP_EXCHANGE must be/],
    [{ AMQP_EXCHANGE: 'has space' }, /^AMQP_EXCHANGE must be/],
    [{ EVENTS_BATCH_SIZE: '0' }, /^EVENTS_BATCH_SIZE must be an integer from 1 to 10000/],
    [{ EVENTS_POLL_INTERVAL_MS: 'soon' }, /^EVENTS_POLL_INTERVAL_MS must be an integer/],
    [{ EVENTS_RETENTION_HOURS: '0' }, /^EVENTS_RETENTION_HOURS must be an integer from 1/],
  ])('refuses %o with one clear line', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
