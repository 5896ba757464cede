import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { eventually, fastWebhooks, type Receiver, startReceiver } from '../../helpers/webhook-receiver.js';

let db: TestDatabase;
let app: TestApp;
let receiver: Receiver;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver();
  app = await startApp(testConfig(db.url, { webhooks: fastWebhooks() }));
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
  await db?.drop();
});

type User = Awaited<ReturnType<typeof registerAndLogin>>;
const hook = async (user: User, path: string, events: string[] = ['*']) => {
  const created = await app.api.post('/webhooks', { url: receiver.url(path), events }, { token: user.token });
  expect(created.status, created.text).toBe(201);
  return created.body as { id: number; secret: string };
};
const outboxBody = async (eventId: string) =>
  (await db.pool.query<{ body: string }>('SELECT payload::text AS body FROM event_outbox WHERE event_id = $1', [eventId])).rows[0]
    ?.body;

describe('a webhook receiving task events', () => {
  it('gets each subscribed event signed (Standard Webhooks), its body the outbox payload byte for byte', async () => {
    const ada = await registerAndLogin(app.api, 'ada');
    const { secret } = await hook(ada, '/signed', ['task.created', 'task.deleted']);
    const task = await app.api.post('/tasks', { title: 'Signed' }, { token: ada.token });
    await app.api.patch(`/tasks/${task.body.id}`, { status: 'completed' }, { token: ada.token });
    await app.api.delete(`/tasks/${task.body.id}`, { token: ada.token });
    const got = await eventually('two deliveries', async () => receiver.at('/signed').length >= 2 && receiver.at('/signed'));
    await new Promise((r) => setTimeout(r, 200));
    expect(got.map((r) => JSON.parse(r.body).type)).toEqual(['task.created', 'task.deleted']);
    for (const request of got) {
      const headers = request.headers as Record<string, string>;
      const verified = new Webhook(secret).verify(request.body, headers) as { id: string };
      expect(headers['webhook-id']).toBe(verified.id);
      expect(request.body).toBe(await outboxBody(verified.id));
      expect(headers['content-type']).toBe('application/json');
      expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(request.body, headers)).toThrow();
    }
  });
});

const typeOf = (r: { body: string }) => JSON.parse(r.body).type as string;
const deliveriesOf = async (user: User, id: number) => {
  const res = await app.api.get(`/webhooks/${id}/deliveries?limit=100`, { token: user.token });
  expect(res.status, res.text).toBe(200);
  return res.body as Array<Record<string, unknown>>;
};

describe('visibility', () => {
  it("another user's private task never arrives, nor shows in the deliveries", async () => {
    const watcher = await registerAndLogin(app.api, 'watcher');
    const stranger = await registerAndLogin(app.api, 'stranger');
    const { id } = await hook(watcher, '/watcher', ['task.created']);
    await app.api.post('/tasks', { title: 'Private' }, { token: stranger.token });
    await app.api.post('/tasks', { title: 'Mine' }, { token: watcher.token });
    await eventually('the own task', async () => receiver.at('/watcher').length === 1);
    expect(receiver.at('/watcher').map((r) => JSON.parse(r.body).data.title)).toEqual(['Mine']);
    expect((await deliveriesOf(watcher, id)).map((d) => d.event_type)).toEqual(['task.created']);
  });

  it("a member removed from a project stops receiving its tasks' events, those already queued included", async () => {
    // Retries slow enough for the removal to come between two attempts (an app and database of its own).
    const other = await createTestDatabase();
    const slow = await startApp(testConfig(other.url, { webhooks: fastWebhooks({ retryBaseMs: 600, maxAttempts: 5 }) }));
    try {
      const api = slow.api;
      const owner = await registerAndLogin(api, 'owner');
      const member = await registerAndLogin(api, 'member');
      const project = await api.post('/projects', { name: 'Shared' }, { token: owner.token });
      await api.post(
        `/projects/${project.body.id}/members`,
        { username: member.username, role: 'viewer' },
        { token: owner.token },
      );
      const made = await api.post(
        '/webhooks',
        { url: receiver.url('/member'), events: ['task.created', 'task.updated'] },
        { token: member.token },
      );
      receiver.answer((r) => (r.path === '/member' && JSON.parse(r.body).data.title === 'first change' ? { status: 503 } : {}));
      const task = await api.post('/tasks', { title: 'In the project', project_id: project.body.id }, { token: owner.token });
      await api.patch(`/tasks/${task.body.id}`, { title: 'first change' }, { token: owner.token });
      await api.patch(`/tasks/${task.body.id}`, { title: 'second change' }, { token: owner.token });
      // The first change fails once; the second waits behind it. Then the member is removed.
      await eventually('the failed attempt', async () => receiver.at('/member').length === 2);
      expect((await api.delete(`/projects/${project.body.id}/members/${member.id}`, { token: owner.token })).status).toBe(204);
      await api.patch(`/tasks/${task.body.id}`, { title: 'after the removal' }, { token: owner.token });
      const rows = await eventually('the queued ones skipped', async () => {
        const all = (await api.get(`/webhooks/${made.body.id}/deliveries`, { token: member.token })).body as Array<
          Record<string, unknown>
        >;
        return all.filter((d) => d.status === 'skipped').length === 2 && all;
      });
      expect(rows.map((d) => [d.event_type, d.status])).toEqual([
        ['task.updated', 'skipped'],
        ['task.updated', 'skipped'],
        ['task.created', 'delivered'],
      ]);
      await new Promise((r) => setTimeout(r, 200));
      expect(receiver.at('/member').map((r) => JSON.parse(r.body).data.title)).toEqual(['In the project', 'first change']);
    } finally {
      receiver.answer(() => ({}));
      await slow.close();
      await other.drop();
    }
  });
});

describe('retries, order and disabling', () => {
  it('retries with backoff until the receiver answers 2xx; later events of the task wait for it', async () => {
    const dan = await registerAndLogin(app.api, 'dan');
    const { id } = await hook(dan, '/order', ['task.created', 'task.updated']);
    let failuresLeft = 2;
    receiver.answer((r) => (r.path === '/order' && typeOf(r) === 'task.created' && failuresLeft-- > 0 ? { status: 503 } : {}));
    const task = await app.api.post('/tasks', { title: 'v0' }, { token: dan.token });
    await app.api.patch(`/tasks/${task.body.id}`, { title: 'v1' }, { token: dan.token });
    await app.api.patch(`/tasks/${task.body.id}`, { title: 'v2' }, { token: dan.token });
    const got = await eventually('five requests', async () => receiver.at('/order').length >= 5 && receiver.at('/order'));
    receiver.answer(() => ({}));
    expect(got.map((r) => JSON.parse(r.body).data.title)).toEqual(['v0', 'v0', 'v0', 'v1', 'v2']);
    // Exponential: the second retry waits at least as long as the first one's floor, twice over.
    const [first, second, third] = got.map((r) => r.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(15);
    expect(third - second).toBeGreaterThanOrEqual(35);
    const rows = await eventually('all delivered', async () => {
      const all = await deliveriesOf(dan, id);
      return all.every((d) => d.status === 'delivered') && all;
    });
    expect(rows.at(-1)).toMatchObject({
      event_type: 'task.created',
      attempts: 3,
      response_status: 204,
      error: null,
      next_attempt_at: null,
    });
    expect(rows.at(-1)?.duration_ms).toEqual(expect.any(Number));
    expect(rows.at(-1)?.last_attempt_at).toEqual(expect.any(String));
  });

  it('disables a webhook after N failed deliveries in a row, with a webhook.disabled event', async () => {
    const eve = await registerAndLogin(app.api, 'eve');
    const down = await hook(eve, '/down', ['task.created']);
    const watch = await hook(eve, '/watch', ['webhook.disabled']);
    receiver.answer((r) => (r.path === '/down' ? { status: 500 } : {}));
    await app.api.post('/tasks', { title: 'one' }, { token: eve.token });
    await app.api.post('/tasks', { title: 'two' }, { token: eve.token });
    const [disabled] = await eventually(
      'the disabled event',
      async () => receiver.at('/watch').length > 0 && receiver.at('/watch'),
    );
    receiver.answer(() => ({}));
    const event = JSON.parse(disabled?.body as string);
    expect(event).toMatchObject({ type: 'webhook.disabled', subject: { type: 'webhook', id: down.id } });
    expect(event.data).toMatchObject({
      id: down.id,
      user_id: eve.id,
      active: false,
      disabled_reason: '2 deliveries in a row failed',
    });
    expect(event.data.url).toBeUndefined();
    expect(new Webhook(watch.secret).verify(disabled?.body as string, disabled?.headers as Record<string, string>)).toBeTruthy();
    const shown = await app.api.get(`/webhooks/${down.id}`, { token: eve.token });
    expect(shown.body).toMatchObject({ active: false, disabled_reason: '2 deliveries in a row failed' });
    const rows = await deliveriesOf(eve, down.id);
    expect(rows.map((d) => [d.status, d.attempts, d.response_status, d.error])).toEqual([
      ['failed', 3, 500, 'HTTP 500'],
      ['failed', 3, 500, 'HTTP 500'],
    ]);
    // Disabled: nothing more is made for it, and a test is refused until it is enabled again.
    await app.api.post('/tasks', { title: 'three' }, { token: eve.token });
    expect((await app.api.post(`/webhooks/${down.id}/test`, undefined, { token: eve.token })).status).toBe(409);
    const enabled = await app.api.patch(`/webhooks/${down.id}`, { active: true }, { token: eve.token });
    expect(enabled.body).toMatchObject({ active: true, disabled_reason: null });
    expect(await deliveriesOf(eve, down.id)).toHaveLength(2);
  });
});

describe('POST /webhooks/{id}/test', () => {
  it('delivers a signed webhook.ping, listed with its outcome', async () => {
    const fay = await registerAndLogin(app.api, 'fay');
    const { id, secret } = await hook(fay, '/ping', ['task.deleted']);
    const queued = await app.api.post(`/webhooks/${id}/test`, undefined, { token: fay.token });
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body).toMatchObject({ event_type: 'webhook.ping', status: 'pending', attempts: 0 });
    const [ping] = await eventually('the ping', async () => receiver.at('/ping').length > 0 && receiver.at('/ping'));
    const body = new Webhook(secret).verify(ping?.body as string, ping?.headers as Record<string, string>);
    expect(body).toMatchObject({ type: 'webhook.ping', subject: { type: 'webhook', id }, actor: { id: fay.id } });
    const [row] = await eventually('the ping delivered', async () => {
      const all = await deliveriesOf(fay, id);
      return all[0]?.status === 'delivered' && all;
    });
    expect(row).toMatchObject({
      id: queued.body.id,
      event_id: queued.body.event_id,
      attempts: 1,
      response_status: 204,
      next_attempt_at: null,
    });
  });
});
