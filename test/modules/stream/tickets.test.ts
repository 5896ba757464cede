import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { LOG_SERIALIZERS, REDACTED_PATHS } from '../../../src/logger.js';
import { registerAndLogin, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { type HttpClient, httpClient } from '../../helpers/http.js';
import { fastStream, openStream, type SseEvent } from '../../helpers/sse.js';

// The app logs at trace level into `lines`, as the process's logger would (same redaction).
const lines: string[] = [];
let db: TestDatabase;
let app: Awaited<ReturnType<typeof buildApp>>;
let baseUrl: string;
let api: HttpClient;
beforeAll(async () => {
  db = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = pino(
    { level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, serializers: LOG_SERIALIZERS },
    sink,
  );
  app = await buildApp({ ...testConfig(db.url), logLevel: 'trace', stream: fastStream() }, { loggerInstance: logger });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  api = httpClient(`${baseUrl}/api/v1`);
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

const ticketOf = async (token: string) => {
  const res = await api.post('/stream/tickets', undefined, { token });
  expect(res.status).toBe(201);
  return res.body as { ticket: string; expires_at: string; expires_in: number };
};
const open = async (options: Parameters<typeof openStream>[1]) => {
  const stream = await openStream(baseUrl, options);
  onTestFinished(() => stream.close());
  return stream;
};
const body = (event: SseEvent) => JSON.parse(event.data);

describe('stream tickets', () => {
  it('open one stream as their login, once; a second use is a 401', async () => {
    const user = await registerAndLogin(api, 'ticketed');
    const stranger = await registerAndLogin(api, 'stranger');
    const issued = await ticketOf(user.token);
    expect(issued.expires_in).toBe(60);
    expect(issued.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Date(issued.expires_at).getTime() - Date.now()).toBeGreaterThan(55_000);

    const stream = await open({ ticket: issued.ticket });
    expect(stream.status).toBe(200);
    await api.post('/tasks', { title: 'not for the ticket' }, { token: stranger.token });
    await api.post('/tasks', { title: 'for the ticket' }, { token: user.token });
    await stream.next((e) => body(e).data?.title === 'for the ticket');
    expect(stream.events.map((e) => body(e).data.title)).toEqual(['for the ticket']);

    const again = await open({ ticket: issued.ticket });
    expect(again.status).toBe(401);
    expect(JSON.parse(again.text).detail).toContain('ticket');
  });

  it('are stored only as their digest', async () => {
    const user = await registerAndLogin(api, 'digest');
    const { ticket } = await ticketOf(user.token);
    const { rows } = await db.pool.query('SELECT token_hash FROM stream_tickets WHERE user_id = $1', [user.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash.toString('hex')).not.toContain(Buffer.from(ticket, 'base64url').toString('hex'));
  });

  it('an expired one is a 401', async () => {
    const user = await registerAndLogin(api, 'late');
    const { ticket } = await ticketOf(user.token);
    await db.pool.query("UPDATE stream_tickets SET expires_at = now() - interval '1 second' WHERE user_id = $1", [user.id]);
    expect((await open({ ticket })).status).toBe(401);
  });

  it("one of a login that has ended is a 401, and so is another user's ticket with your token", async () => {
    const alice = await registerAndLogin(api, 'alice');
    const bob = await registerAndLogin(api, 'bob');
    const ofAlice = await ticketOf(alice.token);
    expect((await open({ ticket: ofAlice.ticket, token: bob.token })).status).toBe(401);

    const ended = await ticketOf(bob.token);
    expect((await api.post('/auth/logout', undefined, { token: bob.token })).status).toBe(204);
    expect((await open({ ticket: ended.ticket })).status).toBe(401);
  });

  it('a made-up ticket is a 401, and no credential at all is a 401', async () => {
    expect((await open({ ticket: randomBytes(32).toString('base64url') })).status).toBe(401);
    expect((await open({ ticket: 'short' })).status).toBe(401);
    expect((await api.post('/stream/tickets')).status).toBe(401);
  });

  it('never appear in the log, whatever the outcome', async () => {
    const user = await registerAndLogin(api, 'logged');
    const tickets: string[] = [];
    const used = await ticketOf(user.token);
    tickets.push(used.ticket);
    const stream = await open({ ticket: used.ticket, query: 'last_event_id=1-1' });
    await stream.next((e) => e.event === 'reset');
    stream.close();
    await open({ ticket: used.ticket });
    const spare = await ticketOf(user.token);
    tickets.push(spare.ticket);
    await open({ ticket: spare.ticket, query: 'unknown=1' });
    // A request logged whole (none of ours is) shows its URL masked.
    app.log.info({ req: { method: 'GET', url: `/api/v1/stream?ticket=${spare.ticket}&last_event_id=1-1` } }, 'a request');
    await new Promise((r) => setTimeout(r, 200));
    const log = lines.join('');
    expect(log).toContain('/api/v1/stream?ticket=[redacted]&last_event_id=1-1');
    expect(log).toContain('stream closed');
    for (const ticket of tickets) expect(log).not.toContain(ticket);
  });
});
