import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createDatabase } from '../../../src/db/pool.js';
import { createOutboxRepository } from '../../../src/modules/events/repository.js';
import { labelDeletedEvent } from '../../../src/modules/tasks/labels/events.js';
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

/** A connection of its own, for holding a transaction open. */
async function connection() {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  onTestFinished(() => client.end());
  return client;
}

/** Writes an event about `userId`'s labels, as the labels module would, on `client` (in its transaction, if open). */
async function writeEvent(client: pg.Client, userId: number, name: string): Promise<{ id: number; eventId: string }> {
  const event = labelDeletedEvent({ id: userId, username: 'x', role: 'user' }, userId, { name, taskCount: 0 });
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO event_outbox (event_id, type, aggregate_key, payload) VALUES ($1, $2, $3, $4::json) RETURNING id',
    [event.body.id, event.body.type, event.aggregateKey, JSON.stringify(event.body)],
  );
  return { id: Number(rows[0]?.id), eventId: event.body.id };
}

describe('the webhook feed', () => {
  it('reads the outbox in commit order: an event whose id is lower but commits later is not skipped', async () => {
    const user = await registerAndLogin(app.api, 'feed');
    const made = await app.api.post(
      '/webhooks',
      { url: receiver.url('/feed'), events: ['label.deleted'] },
      { token: user.token },
    );
    expect(made.status).toBe(201);
    const slow = await connection();
    const quick = await connection();
    await slow.query('BEGIN');
    const early = await writeEvent(slow, user.id, 'early id, late commit');
    await quick.query('BEGIN');
    const late = await writeEvent(quick, user.id, 'late id, early commit');
    await quick.query('COMMIT');
    expect(late.id).toBeGreaterThan(early.id);
    // While the slower transaction runs, the later id waits behind it: it is not read past.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.at('/feed')).toHaveLength(0);
    await slow.query('COMMIT');
    const got = await eventually('both events', async () => receiver.at('/feed').length === 2 && receiver.at('/feed'));
    // One aggregate (the user's labels): delivered in id order, which for one subject is commit order.
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([early.eventId, late.eventId]);
  });

  it('delivers one subject in id order when transaction ids run the other way (the feed reads by xid)', async () => {
    const user = await registerAndLogin(app.api, 'inverted');
    await app.api.post('/webhooks', { url: receiver.url('/inverted'), events: ['label.deleted'] }, { token: user.token });
    // T2 takes its transaction id first (an earlier write), then waits while T1 writes and commits an
    // event of the subject; T2's event of it comes after (a higher id, a lower xid), as with a row lock.
    const t1 = await connection();
    const t2 = await connection();
    await t2.query('BEGIN');
    await t2.query('SELECT pg_current_xact_id()');
    await t1.query('BEGIN');
    const first = await writeEvent(t1, user.id, 'first');
    await t1.query('COMMIT');
    const second = await writeEvent(t2, user.id, 'second');
    await t2.query('COMMIT');
    const xids = await db.pool.query<{ id: string; xid: string }>(
      'SELECT id, xid::text FROM event_outbox WHERE id = ANY($1) ORDER BY id',
      [[first.id, second.id]],
    );
    expect(BigInt(xids.rows[0]?.xid as string)).toBeGreaterThan(BigInt(xids.rows[1]?.xid as string));
    const got = await eventually('both events', async () => receiver.at('/inverted').length === 2 && receiver.at('/inverted'));
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([first.eventId, second.eventId]);
  });

  it('holds back while another instance has the cursor, and pruning keeps what the feed has not passed', async () => {
    const user = await registerAndLogin(app.api, 'prune');
    const made = await app.api.post(
      '/webhooks',
      { url: receiver.url('/prune'), events: ['label.deleted'] },
      { token: user.token },
    );
    // Made long ago: the aged events below are still after it (a webhook gets no event older than itself).
    await db.pool.query("UPDATE webhooks SET created_at = now() - interval '200 hours' WHERE id = $1", [made.body.id]);
    const holder = await connection();
    const writer = await connection();
    const outbox = createOutboxRepository(createDatabase(db.pool));
    const writeOld = async (name: string) => {
      const event = await writeEvent(writer, user.id, name);
      await writer.query("UPDATE event_outbox SET created_at = now() - interval '100 hours' WHERE id = $1", [event.id]);
      return event;
    };

    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM webhook_feed FOR UPDATE');
    const old = await writeOld('old');
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.at('/prune')).toHaveLength(0);
    expect(await outbox.pruneSent(72, true)).toBe(0);
    await holder.query('COMMIT');
    await eventually('the event delivered', async () => receiver.at('/prune').length === 1);
    expect(receiver.at('/prune')[0]?.headers['webhook-id']).toBe(old.eventId);
    expect(await outbox.pruneSent(72, true)).toBe(1);

    // With webhooks off, the feed is not waited for.
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM webhook_feed FOR UPDATE');
    await writeOld('unfed');
    expect(await outbox.pruneSent(72, false)).toBe(1);
    await holder.query('COMMIT');
  });
});
