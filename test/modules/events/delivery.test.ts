import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../../src/db/pool.js';
import { recordEvents } from '../../../src/modules/events/repository.js';
import { taskEvent } from '../../../src/modules/tasks/events.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import type { HttpClient } from '../../helpers/http.js';
import {
  AMQP_URL,
  collectEvents,
  type RabbitServer,
  type ReceivedEvent,
  startRabbitServer,
  uniqueExchange,
  until,
} from '../../helpers/rabbitmq.js';

const readiness = async (app: TestApp) =>
  (await (await fetch(`${app.baseUrl}/readyz`)).json()) as { checks: Record<string, string> };

type User = Awaited<ReturnType<typeof registerAndLogin>>;

const eventsConfig = (exchange: string) => ({ exchange, batchSize: 10, pollIntervalMs: 100, retentionHours: 72 });

async function outboxRows(db: TestDatabase): Promise<{ id: number; event_id: string; aggregate_key: string; sent: boolean }[]> {
  const { rows } = await db.pool.query(
    `SELECT id, event_id, aggregate_key, NOT EXISTS (SELECT 1 FROM event_outbox_pending p WHERE p.id = e.id) AS sent
       FROM event_outbox e ORDER BY id`,
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/**
 * Writes `rounds` successive titles to each task, the tasks in parallel (each task's writes in
 * sequence), spreading requests over `clients`. Every request must succeed.
 */
async function burst(clients: HttpClient[], user: User, taskIds: number[], rounds: number, label: string): Promise<void> {
  await Promise.all(
    taskIds.map(async (id, i) => {
      for (let round = 0; round < rounds; round++) {
        const api = clients[(i + round) % clients.length] as HttpClient;
        const res = await api.patch(`/tasks/${id}`, { title: `${label}-${round}` }, { token: user.token });
        if (res.status !== 200) throw new Error(`update of task ${id} answered ${res.status}: ${res.text}`);
      }
    }),
  );
}

/** Every outbox row arrived; the first arrival of each event follows the outbox order within its aggregate. */
function checkDelivery(received: ReceivedEvent[], rows: Awaited<ReturnType<typeof outboxRows>>) {
  const outboxIdOf = new Map(rows.map((r) => [r.event_id, r]));
  const firstArrivals: ReceivedEvent[] = [];
  const seen = new Set<string>();
  for (const event of received) {
    expect(outboxIdOf.has(event.body.id), `an event that is not in the outbox: ${event.body.id}`).toBe(true);
    if (seen.has(event.body.id)) continue;
    seen.add(event.body.id);
    firstArrivals.push(event);
  }
  expect(seen.size).toBe(rows.length);
  const lastByAggregate = new Map<string, number>();
  for (const event of firstArrivals) {
    const row = outboxIdOf.get(event.body.id) as (typeof rows)[number];
    const previous = lastByAggregate.get(row.aggregate_key) ?? 0;
    expect(row.id, `${row.aggregate_key}: outbox row ${row.id} arrived after row ${previous}`).toBeGreaterThan(previous);
    lastByAggregate.set(row.aggregate_key, row.id);
  }
  return { duplicates: received.length - firstArrivals.length };
}

/** The titles each task's task.updated events carried, in the order they arrived (first arrivals). */
function titlesByTask(received: ReceivedEvent[]): Map<number, string[]> {
  const seen = new Set<string>();
  const titles = new Map<number, string[]>();
  for (const event of received) {
    if (seen.has(event.body.id) || event.body.type !== 'task.updated') continue;
    seen.add(event.body.id);
    const list = titles.get(event.body.subject.id) ?? [];
    list.push((event.body.data as { title: string }).title);
    titles.set(event.body.subject.id, list);
  }
  return titles;
}

describe('a RabbitMQ outage during a burst of writes', () => {
  let broker: RabbitServer;
  let db: TestDatabase;
  let app: TestApp;
  const exchange = uniqueExchange('outage');
  const queue = `${exchange}.consumer`;

  beforeAll(async () => {
    broker = await startRabbitServer();
    db = await createTestDatabase();
  }, 200_000);
  afterAll(async () => {
    await app?.close();
    await broker?.destroy();
    await db?.drop();
  });

  /** A consumer's durable queue: what the broker confirmed survives its crash. */
  async function consume(received: ReceivedEvent[]) {
    const connection = await amqp.connect(broker.url);
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true });
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, exchange, '#');
    await channel.consume(queue, (message) => {
      if (!message) return;
      received.push({
        body: JSON.parse(message.content.toString()),
        routingKey: message.fields.routingKey,
        properties: message.properties,
      });
      channel.ack(message);
    });
    return connection;
  }

  it('loses nothing, keeps each task in order, and never fails a request', async () => {
    const received: ReceivedEvent[] = [];
    await consume(received);
    app = await startApp(testConfig(db.url, { amqpUrl: broker.url, events: eventsConfig(exchange) }));
    await until('the publisher to connect', async () => (await readiness(app)).checks.amqp === 'ok');
    const user = await registerAndLogin(app.api, 'outage');
    const taskIds: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await app.api.post('/tasks', { title: `task-${i}` }, { token: user.token });
      expect(res.status).toBe(201);
      taskIds.push(res.body.id);
    }

    // The broker dies while the writes go on.
    const writes = burst([app.api], user, taskIds, 30, 'during');
    await until('some events to be published', () => received.length > 10);
    await broker.stop();
    const outageStarted = Date.now();
    await writes;
    const ready = await fetch(`${app.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    await until('/readyz to report the broker', async () => (await readiness(app)).checks.amqp === 'failing');
    // More writes with the broker down: they succeed and wait in the outbox.
    await burst([app.api], user, taskIds, 10, 'down');
    const waiting = (await outboxRows(db)).filter((r) => !r.sent).length;
    expect(waiting).toBeGreaterThan(0);

    await broker.start();
    const outageMs = Date.now() - outageStarted;
    await consume(received);
    await until('the outbox to drain', async () => (await outboxRows(db)).every((r) => r.sent), 120_000);
    const rows = await outboxRows(db);
    await until('every event to arrive', () => new Set(received.map((e) => e.body.id)).size >= rows.length, 60_000);

    // 1 registration + 6 creates + 6 tasks × 40 updates.
    expect(rows.length).toBe(1 + 6 + 6 * 40);
    const { duplicates } = checkDelivery(received, rows);
    const titles = titlesByTask(received);
    for (const id of taskIds) {
      expect(titles.get(id)).toEqual([
        ...Array.from({ length: 30 }, (_, r) => `during-${r}`),
        ...Array.from({ length: 10 }, (_, r) => `down-${r}`),
      ]);
    }
    console.info(
      `outage: ${rows.length} events, ${waiting} waited in the outbox, outage ${outageMs} ms, ` +
        `broker starts ${broker.startTimes.join(' / ')} ms, ${duplicates} duplicates delivered`,
    );
  }, 400_000);
});

describe('two publishers on one database', () => {
  let db: TestDatabase;
  let apps: TestApp[] = [];
  const exchange = uniqueExchange('pair');

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  it('send each event once and keep each task in order', async () => {
    const collector = await collectEvents(AMQP_URL, exchange);
    try {
      // Two instances of one deployment: the same database and secrets.
      const config = testConfig(db.url, { amqpUrl: AMQP_URL, events: eventsConfig(exchange) });
      apps = [await startApp(config), await startApp(config)];
      const clients = apps.map((a) => a.api);
      const user = await registerAndLogin(clients[0] as HttpClient, 'pair');
      const taskIds: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await (clients[i % 2] as HttpClient).post('/tasks', { title: `task-${i}` }, { token: user.token });
        expect(res.status).toBe(201);
        taskIds.push(res.body.id);
      }
      await burst(clients, user, taskIds, 25, 'v');
      await until('the outbox to drain', async () => (await outboxRows(db)).every((r) => r.sent), 120_000);
      const rows = await outboxRows(db);
      expect(rows.length).toBe(1 + 8 + 8 * 25);
      await collector.waitForCount(rows.length);

      const { duplicates } = checkDelivery(collector.events, rows);
      expect(duplicates).toBe(0);
      expect(collector.events.length).toBe(rows.length);
      const titles = titlesByTask(collector.events);
      for (const id of taskIds) expect(titles.get(id)).toEqual(Array.from({ length: 25 }, (_, r) => `v-${r}`));
      // Both publishers took part (each wakes for its own instance's writes).
      const published = await Promise.all(
        apps.map(async (a) =>
          Number(/^events_published_total (\d+)$/m.exec(await (await fetch(`${a.baseUrl}/metrics`)).text())?.[1]),
        ),
      );
      expect(published.every((n) => n > 0)).toBe(true);
      expect((published[0] as number) + (published[1] as number)).toBe(rows.length);
      console.info(`two publishers: ${rows.length} events, published ${published.join(' + ')}, 0 duplicates`);
    } finally {
      await collector.close();
    }
  }, 300_000);
});

describe('a publisher and another one’s claim', () => {
  it('does not send a later event of a task while another publisher holds an earlier one', async () => {
    const db = await createTestDatabase();
    const exchange = uniqueExchange('overtake');
    const collector = await collectEvents(AMQP_URL, exchange);
    const holder = await db.pool.connect();
    let app: TestApp | undefined;
    try {
      // Rows as writes would leave them: task 1 twice, task 2, task 1 again.
      const task = (id: number, title: string) => ({
        id,
        user_id: 1,
        title,
        description: null,
        status: 'pending' as const,
        priority: 'medium' as const,
        due_at: null,
        project_id: null,
        created_at: new Date(),
        updated_at: new Date(),
        labels: [],
      });
      const writes: [number, string][] = [
        [1, 'one-a'],
        [1, 'one-b'],
        [2, 'two-a'],
        [1, 'one-c'],
      ];
      for (const [id, title] of writes)
        await recordEvents(createDatabase(db.pool), [taskEvent('task.updated', null, task(id, title))]);
      const rows = await outboxRows(db);
      // Another publisher is busy with task 1's first event.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM event_outbox_pending WHERE id = $1 FOR UPDATE', [rows[0]?.id]);

      app = await startApp(testConfig(db.url, { amqpUrl: AMQP_URL, events: eventsConfig(exchange) }));
      await until('task 2’s event to be sent', async () => (await outboxRows(db))[2]?.sent === true);
      // Several more rounds of the publisher: task 1's later events must still wait.
      const published = async () =>
        Number(/^events_published_total (\d+)$/m.exec(await (await fetch(`${app?.baseUrl}/metrics`)).text())?.[1]);
      // Each publishing round is a transaction on this database: count commits to know it has looked again.
      const rounds = async () =>
        Number(
          (await db.pool.query('SELECT xact_commit::int AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]
            ?.n,
        );
      const before = await rounds();
      await until('the publisher to poll again', async () => (await rounds()) > before + 10);
      expect((await outboxRows(db)).map((r) => r.sent)).toEqual([false, false, true, false]);
      expect(await published()).toBe(1);
      expect(collector.events.map((e) => (e.body.data as { title: string }).title)).toEqual(['two-a']);

      // The other publisher finishes (it sent the event and marks it): the rest follows, in order.
      await holder.query('DELETE FROM event_outbox_pending WHERE id = $1', [rows[0]?.id]);
      await holder.query('COMMIT');
      await collector.waitForCount(3);
      await until('the outbox to drain', async () => (await outboxRows(db)).every((r) => r.sent));
      expect(collector.events.map((e) => (e.body.data as { title: string }).title)).toEqual(['two-a', 'one-b', 'one-c']);
    } finally {
      holder.release();
      await app?.close();
      await collector.close();
      await db.drop();
    }
  }, 120_000);
});
