import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appsOnOneDatabase, registerAndLogin, type TestApp } from '../../helpers/app.js';
import { eventually, fastWebhooks, type Receiver, startReceiver } from '../../helpers/webhook-receiver.js';

const apps = appsOnOneDatabase();
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver?.close());

// One deployment: one JWT_SECRET (the tokens', and the key sealing signing secrets). Retries slow
// enough that an outage meets several attempts of a delivery, and none gives up.
const settings = () => ({
  jwtSecret: randomBytes(32).toString('base64url'),
  webhooks: fastWebhooks({ maxAttempts: 10, retryBaseMs: 30, disableAfterFailures: 100 }),
});

/** Both instances write `perInstance` tasks each, every one created then updated; `during` runs after the first few. */
async function writeTasks(pair: TestApp[], token: string, perInstance: number, during?: () => void) {
  await Promise.all(
    pair.map(async (instance, n) => {
      for (let i = 0; i < perInstance; i++) {
        const task = await instance.api.post('/tasks', { title: `i${n} t${i} a` }, { token });
        await instance.api.patch(`/tasks/${task.body.id}`, { title: `i${n} t${i} b` }, { token });
        if (n === 1 && i === 1) during?.();
      }
    }),
  );
}

async function setUp(path: string) {
  const config = settings();
  const pair = [await apps.start(config), await apps.start(config)];
  const user = await registerAndLogin(pair[0]?.api as TestApp['api'], 'pair');
  const made = await pair[0]?.api.post(
    '/webhooks',
    { url: receiver.url(path), events: ['task.created', 'task.updated'] },
    { token: user.token },
  );
  expect(made?.status).toBe(201);
  return { pair, user, hookId: made?.body.id as number };
}

/** The receiver's requests to `path`, each as `type@task`, grouped by task in arrival order. */
function byTask(path: string): Map<number, string[]> {
  const tasks = new Map<number, string[]>();
  for (const request of receiver.at(path)) {
    const body = JSON.parse(request.body);
    tasks.set(body.subject.id, [...(tasks.get(body.subject.id) ?? []), body.type]);
  }
  return tasks;
}

describe('two instances', () => {
  it('deliver each event once in the normal case, each task in order', async () => {
    const { pair, user } = await setUp('/pair');
    await writeTasks(pair, user.token, 5);
    await eventually('20 requests', async () => receiver.at('/pair').length >= 20);
    await new Promise((r) => setTimeout(r, 300));
    const ids = receiver.at('/pair').map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    for (const types of byTask('/pair').values()) expect(types).toEqual(['task.created', 'task.updated']);
  });

  it('deliver everything after an outage of the receiver, each task still in order', async () => {
    const { pair, user, hookId } = await setUp('/outage');
    await writeTasks(pair, user.token, 6, () => receiver.answer((r) => (r.path === '/outage' ? { status: 503 } : {})));
    await new Promise((r) => setTimeout(r, 300));
    const failedDuringOutage = receiver.at('/outage').length;
    receiver.answer(() => ({}));
    await eventually(
      'all 24 events delivered',
      async () => {
        const rows = (await pair[0]?.api.get(`/webhooks/${hookId}/deliveries?limit=100`, { token: user.token }))?.body as Array<{
          status: string;
        }>;
        return rows.length === 24 && rows.every((d) => d.status === 'delivered');
      },
      20_000,
    );
    expect(failedDuringOutage).toBeGreaterThan(0);
    // Per task, every attempt of the created event comes before any of the updated one.
    for (const types of byTask('/outage').values()) {
      const firstUpdate = types.indexOf('task.updated');
      expect(firstUpdate).toBeGreaterThan(0);
      expect(
        types.slice(firstUpdate).every((t) => t === 'task.updated'),
        types.join(' '),
      ).toBe(true);
    }
  });
});
