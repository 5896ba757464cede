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
