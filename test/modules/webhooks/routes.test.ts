import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { REDACTED_PATHS } from '../../../src/logger.js';
import { MAX_WEBHOOKS_PER_USER } from '../../../src/modules/webhooks/schemas.js';
import { registerAndLogin, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { type HttpClient, httpClient } from '../../helpers/http.js';
import { eventually, fastWebhooks, type Receiver, startReceiver } from '../../helpers/webhook-receiver.js';

let db: TestDatabase;
let receiver: Receiver;
let api: HttpClient;
let close: () => Promise<void>;
let logs = '';

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startReceiver();
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logs += chunk.toString();
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
  const app = await buildApp(testConfig(db.url, { webhooks: fastWebhooks() }), { loggerInstance: logger });
  api = httpClient(`${await app.listen({ host: '127.0.0.1', port: 0 })}/api/v1`);
  close = () => app.close();
});
afterAll(async () => {
  await close?.();
  await receiver?.close();
  await db?.drop();
});

describe('the webhook routes', () => {
  it('create shows the secret once; get, list, patch and delete never do', async () => {
    const ada = await registerAndLogin(api, 'ada');
    const created = await api.post(
      '/webhooks',
      { url: receiver.url('/crud'), events: ['task.created', '*'], description: 'Chat' },
      { token: ada.token },
    );
    expect(created.status, created.text).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/webhooks/${created.body.id}`);
    expect(created.body).toMatchObject({
      url: receiver.url('/crud'),
      events: ['*'],
      description: 'Chat',
      active: true,
      disabled_reason: null,
    });
    const { secret } = created.body;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const stored = await db.pool.query<{ secret: Buffer }>('SELECT secret FROM webhooks WHERE id = $1', [created.body.id]);
    expect(stored.rows[0]?.secret.toString('latin1')).not.toContain(secret.slice(6));

    const got = await api.get(`/webhooks/${created.body.id}`, { token: ada.token });
    const listed = await api.get('/webhooks', { token: ada.token });
    expect(listed.headers.get('x-total-count')).toBe('1');
    const patched = await api.patch(
      `/webhooks/${created.body.id}`,
      { events: ['task.deleted'], active: false },
      { token: ada.token },
    );
    expect(patched.body).toMatchObject({ events: ['task.deleted'], active: false });
    for (const res of [got, listed, patched]) {
      expect(res.status, res.text).toBe(200);
      expect(res.text).not.toContain(secret);
      expect(res.text).not.toContain('secret');
    }
    // A ping goes out signed with it; not a byte of it reaches the logs.
    await api.patch(`/webhooks/${created.body.id}`, { active: true }, { token: ada.token });
    await api.post(`/webhooks/${created.body.id}/test`, undefined, { token: ada.token });
    await eventually('the ping', async () => receiver.at('/crud').length > 0);
    await eventually('its log line', async () => logs.includes('webhook delivered'));
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(secret.slice(6));
    expect(logs).not.toContain(receiver.url('/crud'));

    expect((await api.delete(`/webhooks/${created.body.id}`, { token: ada.token })).status).toBe(204);
    expect((await api.get(`/webhooks/${created.body.id}`, { token: ada.token })).status).toBe(404);
  });

  it("another user's webhook is a 404 on every route, an admin's too", async () => {
    const owner = await registerAndLogin(api, 'own');
    const other = await registerAndLogin(api, 'oth');
    const { body } = await api.post('/webhooks', { url: receiver.url('/mine'), events: ['*'] }, { token: owner.token });
    for (const [method, path, payload] of [
      ['GET', `/webhooks/${body.id}`],
      ['PATCH', `/webhooks/${body.id}`, { description: 'taken' }],
      ['DELETE', `/webhooks/${body.id}`],
      ['POST', `/webhooks/${body.id}/test`],
      ['GET', `/webhooks/${body.id}/deliveries`],
    ] as const) {
      const res = await api.request(method, path, payload, { token: other.token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.detail).toBe('Webhook not found');
    }
    expect((await api.get('/webhooks', { token: other.token })).body).toEqual([]);
    expect((await api.get(`/webhooks/${body.id}`)).status).toBe(401);
  });

  it('refuses bad input with 422 and more than the limit with 409', async () => {
    const user = await registerAndLogin(api, 'lim');
    const bad = [
      { url: 'ftp://hooks.example.com/', events: ['*'] },
      { url: 'https://user:pw@hooks.example.com/', events: ['*'] },
      { url: receiver.url('/x'), events: [] },
      { url: receiver.url('/x'), events: ['task.exploded'] },
      { url: receiver.url('/x'), events: ['webhook.ping'] },
      { url: receiver.url('/x'), events: ['*', '*'] },
      { url: receiver.url('/x'), events: ['*'], description: 'd'.repeat(501) },
      { url: `https://hooks.example.com/${'a'.repeat(2000)}`, events: ['*'] },
      { url: receiver.url('/x'), events: ['*'], secret: 'whsec_mine' },
    ];
    for (const body of bad) {
      const res = await api.post('/webhooks', body, { token: user.token });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    for (let i = 0; i < MAX_WEBHOOKS_PER_USER; i++) {
      expect((await api.post('/webhooks', { url: receiver.url(`/n${i}`), events: ['*'] }, { token: user.token })).status).toBe(
        201,
      );
    }
    const over = await api.post('/webhooks', { url: receiver.url('/over'), events: ['*'] }, { token: user.token });
    expect(over.status).toBe(409);
    const page = await api.get('/webhooks?limit=5&offset=5', { token: user.token });
    expect(page.body).toHaveLength(5);
    expect(page.headers.get('x-total-count')).toBe(String(MAX_WEBHOOKS_PER_USER));
    expect(page.headers.get('link')).toContain('rel="next"');
  });
});
