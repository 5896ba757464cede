import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { appsOnOneDatabase, registerAndLogin, type TestApp } from '../../helpers/app.js';
import { fastStream, type OpenedStream, openStream, type SseEvent } from '../../helpers/sse.js';

const apps = appsOnOneDatabase();
// One deployment: one JWT_SECRET, so a token from one instance is good on the other.
const jwtSecret = randomBytes(32).toString('base64url');
const start = (stream: Partial<TestApp['config']['stream']> = {}) => apps.start({ jwtSecret, stream: fastStream(stream) });

// Behind the API's back: rows arranged and read directly (one pool on the suite's database).
let pool: pg.Pool | undefined;
const database = (app: TestApp) => {
  pool ??= new pg.Pool({ connectionString: app.config.databaseUrl, max: 2 });
  return pool;
};
afterAll(() => pool?.end());

const open = async (app: TestApp, options: Parameters<typeof openStream>[1]) => {
  const stream = await openStream(app.baseUrl, options);
  onTestFinished(() => stream.close());
  return stream;
};
const body = (event: SseEvent) => JSON.parse(event.data);
const titled = (title: string) => (event: SseEvent) => body(event).data?.title === title;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GET /stream across two instances', () => {
  it('a stream on B gets the tasks written through A, in order, with the outbox bodies and the promised headers', async () => {
    // No polling within the test: what wakes B's feed is A's NOTIFY after its commits.
    const a = await start({ pollIntervalMs: 600_000 });
    const b = await start({ pollIntervalMs: 600_000 });
    const user = await registerAndLogin(a.api, 'streamer');
    const stream = await open(b, { token: user.token });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['cache-control']).toBe('no-store');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['x-request-id']).toBeTruthy();
    expect(stream.headers['x-content-type-options']).toBe('nosniff');

    const task = await a.api.post('/tasks', { title: 'first' }, { token: user.token });
    await a.api.patch(`/tasks/${task.body.id}`, { title: 'second' }, { token: user.token });
    const other = await a.api.post('/tasks', { title: 'third' }, { token: user.token });
    await a.api.delete(`/tasks/${task.body.id}`, { token: user.token });
    await stream.next((e) => e.event === 'task.deleted');
    const tasks = stream.events.filter((e) => e.event.startsWith('task.'));
    expect(tasks.map((e) => [e.event, body(e).subject.id])).toEqual([
      ['task.created', task.body.id],
      ['task.updated', task.body.id],
      ['task.created', other.body.id],
      ['task.deleted', task.body.id],
    ]);
    expect(stream.retry).toBe(3000);
    // The bodies are the outbox's (the webhooks'), byte for byte; ids are positions, rising.
    const { rows } = await database(a).query(
      "SELECT xid::text || '-' || id AS position, payload::text AS body FROM event_outbox WHERE event_id = ANY($1::uuid[]) ORDER BY xid, id",
      [tasks.map((e) => body(e).id)],
    );
    expect(rows.map((r: { position: string; body: string }) => [r.position, r.body])).toEqual(tasks.map((e) => [e.id, e.data]));
  });

  it("sends only what the user may see: never another user's private task; a project's tasks to members, until removed", async () => {
    const a = await start();
    const b = await start();
    const owner = await registerAndLogin(a.api, 'owner');
    const member = await registerAndLogin(a.api, 'member');
    const stranger = await registerAndLogin(a.api, 'stranger');
    const project = await a.api.post('/projects', { name: 'Shared' }, { token: owner.token });
    await a.api.post(
      `/projects/${project.body.id}/members`,
      { username: member.username, role: 'viewer' },
      { token: owner.token },
    );
    const stream = await open(b, { token: member.token });

    await a.api.post('/tasks', { title: 'private of the stranger' }, { token: stranger.token });
    await a.api.post('/tasks', { title: 'private of the owner' }, { token: owner.token });
    const shared = await a.api.post('/tasks', { title: 'in the project', project_id: project.body.id }, { token: owner.token });
    await stream.next(titled('in the project'));
    expect((await a.api.delete(`/projects/${project.body.id}/members/${member.id}`, { token: owner.token })).status).toBe(204);
    await a.api.patch(`/tasks/${shared.body.id}`, { title: 'after the removal' }, { token: owner.token });
    await a.api.post('/tasks', { title: 'own, after' }, { token: member.token });
    await stream.next(titled('own, after'));
    const titles = stream.events.filter((e) => e.event.startsWith('task.')).map((e) => body(e).data.title);
    expect(titles).toEqual(['in the project', 'own, after']);
  });
});

describe('resuming', () => {
  it('Last-Event-ID replays what came after it that the user may see, then goes on live', async () => {
    const a = await start();
    const user = await registerAndLogin(a.api, 'resumer');
    const stranger = await registerAndLogin(a.api, 'stranger');
    const first = await open(a, { token: user.token });
    await a.api.post('/tasks', { title: 'one' }, { token: user.token });
    const seen = await first.next(titled('one'));
    first.close();
    await a.api.post('/tasks', { title: 'two' }, { token: user.token });
    await a.api.post('/tasks', { title: 'not mine' }, { token: stranger.token });
    await a.api.post('/tasks', { title: 'three' }, { token: user.token });

    const again = await open(a, { token: user.token, lastEventId: seen.id as string });
    await again.next(titled('three'));
    await a.api.post('/tasks', { title: 'four' }, { token: user.token });
    await again.next(titled('four'));
    expect(again.events.map((e) => body(e).data.title)).toEqual(['two', 'three', 'four']);
    expect(new Set(again.events.map((e) => e.id)).size).toBe(3);
  });

  it('a position the outbox no longer keeps gets a reset, then the stream goes on live', async () => {
    const a = await start();
    const user = await registerAndLogin(a.api, 'reset');
    const first = await open(a, { token: user.token });
    await a.api.post('/tasks', { title: 'pruned' }, { token: user.token });
    const seen = await first.next(titled('pruned'));
    first.close();
    // As the retention's pruning would.
    await database(a).query("DELETE FROM event_outbox WHERE xid::text || '-' || id = $1", [seen.id]);

    const again = await open(a, { token: user.token, lastEventId: seen.id as string });
    const reset = await again.next((e) => e.event === 'reset');
    expect(reset.id).toMatch(/^\d+-\d+$/);
    await a.api.post('/tasks', { title: 'after the reset' }, { token: user.token });
    await again.next(titled('after the reset'));
    expect(again.events.map((e) => e.event)).toEqual(['reset', 'task.created']);
  });

  it('a Last-Event-ID that is not a position is a 422', async () => {
    const a = await start();
    const user = await registerAndLogin(a.api, 'badid');
    const refused = await open(a, { token: user.token, lastEventId: 'yesterday' });
    expect(refused.status).toBe(422);
    expect(refused.headers['content-type']).toContain('application/problem+json');
  });
});

describe('heartbeats', () => {
  it('an idle stream gets a comment line every STREAM_HEARTBEAT_MS', async () => {
    const a = await start({ heartbeatMs: 100 });
    const user = await registerAndLogin(a.api, 'idle');
    const stream = await open(a, { token: user.token });
    await sleep(550);
    expect(stream.comments).toBeGreaterThanOrEqual(3);
    expect(stream.events).toEqual([]);
  });
});

describe('ending streams', () => {
  // No periodic re-check within the test: what ends the streams is the auth channel's announcement.
  const noSafetyNet = { recheckMs: 3_600_000 };
  const endsWithin = async (stream: OpenedStream, ms: number) => {
    const started = Date.now();
    await Promise.race([stream.ended, sleep(ms)]);
    expect(stream.hasEnded(), `ended within ${ms} ms`).toBe(true);
    return Date.now() - started;
  };

  it('logging out ends the streams of that login on every instance, not those of another login', async () => {
    const a = await start(noSafetyNet);
    const b = await start(noSafetyNet);
    const user = await registerAndLogin(a.api, 'leaver');
    const otherLogin = await a.api.post('/auth/login', { username: user.username, password: user.password });
    const onA = await open(a, { token: user.token });
    const onB = await open(b, { token: user.token });
    const kept = await open(b, { token: otherLogin.body.access_token });
    expect((await a.api.post('/auth/logout', undefined, { token: user.token })).status).toBe(204);
    await endsWithin(onA, 3_000);
    await endsWithin(onB, 3_000);
    await sleep(200);
    expect(kept.hasEnded()).toBe(false);
  });

  it('deactivating the user ends their streams within seconds', async () => {
    const a = await start(noSafetyNet);
    const b = await start(noSafetyNet);
    const admin = await registerAndLogin(a.api, 'admin');
    await database(a).query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    const user = await registerAndLogin(a.api, 'deactivated');
    const stream = await open(b, { token: user.token });
    expect((await a.api.patch(`/users/${user.id}`, { is_active: false }, { token: admin.token })).status).toBe(200);
    await endsWithin(stream, 3_000);
  });

  it('a session revoked behind the API (no announcement heard) is ended by the periodic re-check', async () => {
    const a = await start({ recheckMs: 300 });
    const user = await registerAndLogin(a.api, 'revoked');
    const stream = await open(a, { token: user.token });
    // The trigger's announcement is suppressed for this change: only the safety net can see it.
    const client = await database(a).connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE auth_sessions DISABLE TRIGGER auth_sessions_notify_auth_change');
      await client.query("UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'test' WHERE user_id = $1", [user.id]);
      await client.query('ALTER TABLE auth_sessions ENABLE TRIGGER auth_sessions_notify_auth_change');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await endsWithin(stream, 3_000);
  });
});

describe('limits', () => {
  it('a user may hold STREAM_MAX_PER_USER streams on an instance; one more is a 429 until one closes', async () => {
    const a = await start({ maxPerUser: 2 });
    const user = await registerAndLogin(a.api, 'greedy');
    const other = await registerAndLogin(a.api, 'other');
    const first = await open(a, { token: user.token });
    await open(a, { token: user.token });
    const refused = await open(a, { token: user.token });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text).detail).toContain('At most 2 open streams');
    expect(refused.headers['retry-after']).toBe('5');
    expect((await open(a, { token: other.token })).status).toBe(200);
    first.close();
    await sleep(100);
    expect((await open(a, { token: user.token })).status).toBe(200);
  });

  it('an instance holding STREAM_MAX_PER_INSTANCE streams answers 503 with Retry-After', async () => {
    const a = await start({ maxPerInstance: 1 });
    const user = await registerAndLogin(a.api, 'full');
    const other = await registerAndLogin(a.api, 'late');
    await open(a, { token: user.token });
    const refused = await open(a, { token: other.token });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(await (await fetch(`${a.baseUrl}/metrics`)).text()).toMatch(/^stream_connections_open 1$/m);
  });

  it('no credentials: 401', async () => {
    const a = await start();
    const refused = await open(a, {});
    expect(refused.status).toBe(401);
  });
});

describe('shutting down', () => {
  it('closing the app ends the open streams and does not wait for them', async () => {
    const a = await start();
    const user = await registerAndLogin(a.api, 'stayer');
    const streams = await Promise.all([1, 2, 3].map(() => open(a, { token: user.token })));
    const started = Date.now();
    await a.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await Promise.all(streams.map((s) => s.ended));
  });
});
