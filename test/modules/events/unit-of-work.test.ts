import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createDatabase } from '../../../src/db/pool.js';
import { createUnitOfWork } from '../../../src/modules/events/unit-of-work.js';
import { taskEvent } from '../../../src/modules/tasks/events.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

let db: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  db = await createTestDatabase();
  // A broker that is never reachable: the rows stay in the outbox as written (publishing would mark them sent,
  // a newer row version), while the writes take the path they take with events on.
  app = await startApp(
    testConfig(db.url, {
      amqpUrl: 'amqp://guest:guest@127.0.0.1:1',
      events: { exchange: 'task-api.unit-of-work', batchSize: 50, pollIntervalMs: 60_000, retentionHours: 72 },
    }),
  );
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const ENVELOPE_ORDER = ['id', 'type', 'occurred_at', 'actor', 'subject', 'data'];

describe('a task write with events on', () => {
  it('writes the change and its outbox row in one statement (same transaction, same command)', async () => {
    const user = await registerAndLogin(app.api);
    const created = await app.api.post('/tasks', { title: 'One trip' }, { token: user.token });
    expect(created.status).toBe(201);
    const written = async (type: string) => {
      const task = await db.pool.query('SELECT xmin::text AS xid, cmin::text AS cid FROM tasks WHERE id = $1', [created.body.id]);
      const event = await db.pool.query(
        'SELECT xmin::text AS xid, cmin::text AS cid, payload::text AS body FROM event_outbox WHERE aggregate_key = $1 AND type = $2',
        [`task:${created.body.id}`, type],
      );
      return { task: task.rows[0], event: event.rows[0] };
    };
    const afterCreate = await written('task.created');
    // A transaction of several statements (BEGIN, insert, outbox insert, COMMIT) gives the rows different command ids.
    expect(afterCreate.event).toMatchObject(afterCreate.task);

    const updated = await app.api.put(`/tasks/${created.body.id}`, { status: 'completed' }, { token: user.token });
    expect(updated.status).toBe(200);
    const afterUpdate = await written('task.updated');
    expect(afterUpdate.event).toMatchObject(afterUpdate.task);

    // The body SQL wrote is the one newEvent writes: compact JSON, keys in the documented order, the task as the API shows it.
    for (const [event, shown] of [
      [afterCreate.event, created.body],
      [afterUpdate.event, updated.body],
    ]) {
      const body = JSON.parse(event.body);
      expect(event.body).toBe(JSON.stringify(body));
      expect(Object.keys(body)).toEqual(ENVELOPE_ORDER);
      expect(body.data).toEqual(shown);
      expect(body.subject).toEqual({ type: 'task', id: created.body.id });
    }
  });
});

describe('createUnitOfWork', () => {
  const task = (id: number) => ({
    id,
    user_id: 1,
    title: 't',
    description: null,
    status: 'pending' as const,
    priority: 'medium' as const,
    due_at: null,
    project_id: null,
    created_at: new Date(),
    updated_at: new Date(),
    labels: [],
  });
  const outboxIds = async () =>
    (await db.pool.query<{ event_id: string }>('SELECT event_id FROM event_outbox')).rows.map((r) => r.event_id);

  it('records the events in its transaction and wakes the publisher once, after the commit', async () => {
    // A pool of its own: its connection goes back to it (release) only once the transaction has ended.
    const unitPool = new pg.Pool({ connectionString: db.url, max: 1 });
    let released = 0;
    unitPool.on('release', () => released++);
    const seenAtWake: Array<{ released: number; ids: string[] }> = [];
    const unit = createUnitOfWork(createDatabase(unitPool), {
      consumers: { broker: true, webhooks: false, stream: false },
      // Read on another connection: the rows are only there once committed.
      wake: () => {
        const atWake = released;
        void outboxIds().then((ids) => seenAtWake.push({ released: atWake, ids }));
      },
    });
    onTestFinished(() => unitPool.end());
    const events = [taskEvent('task.updated', null, task(9001)), taskEvent('task.updated', null, task(9002))];
    await unit.run(async (work) => {
      await work.record(() => events.slice(0, 1));
      await work.record(() => events.slice(1));
    });
    await expect.poll(() => seenAtWake.length).toBe(1);
    expect(seenAtWake[0]?.released).toBe(1);
    expect(seenAtWake[0]?.ids).toEqual(expect.arrayContaining(events.map((e) => e.body.id)));

    const failed = taskEvent('task.updated', null, task(9003));
    await expect(
      unit.run(async (work) => {
        await work.record(() => [failed]);
        throw new Error('the write fails');
      }),
    ).rejects.toThrow('the write fails');
    expect(await outboxIds()).not.toContain(failed.body.id);
    expect(seenAtWake).toHaveLength(1);
  });

  it('with events off, the same write builds and records nothing and wakes nobody', async () => {
    let woken = 0;
    let built = 0;
    const unit = createUnitOfWork(createDatabase(db.pool), {
      consumers: { broker: false, webhooks: false, stream: false },
      wake: () => woken++,
    });
    const before = await outboxIds();
    const result = await unit.run(async (work) => {
      await work.record(() => {
        built++;
        return [taskEvent('task.updated', null, task(9004))];
      });
      return 'done';
    });
    expect([result, built, woken]).toEqual(['done', 0, 0]);
    expect(await outboxIds()).toEqual(before);
  });
});
