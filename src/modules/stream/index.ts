import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { loggable } from '../../db/errors.js';
import { createListener } from '../../db/listener.js';
import { AUTH_CHANNEL } from '../sessions/session-cache.js';
import { createStreamHub } from './hub.js';
import { createCoalescedNotify } from './notify.js';
import { createStreamRepository, type StreamRepository } from './repository.js';
import streamRoutes from './routes.js';
import { createStreamService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Built whether the stream is on or off (maintenance prunes expired tickets through it). */
    streamRepository: StreamRepository;
  }
}

/** Where instances tell each other that outbox rows were committed. */
export const OUTBOX_CHANNEL = 'task_api_outbox';
/** At most one NOTIFY per instance this often, however many commits. */
const NOTIFY_EVERY_MS = 50;

/**
 * The live stream (README, "Integrations"): GET /api/v1/stream and its tickets, and in every
 * instance (each worker when WORKERS > 1) one feed over the outbox for all its streams, from when
 * the server is ready until it closes. Instances wake each other's feeds with NOTIFY after their
 * commits, and hear of logouts and deactivations on the auth channel (migration 0007), which end
 * the streams of that login at once. Off with STREAM_ENABLED=false: no routes, no feed.
 */
async function stream(app: FastifyInstance) {
  const { config } = app;
  const repository = createStreamRepository(app.db);
  app.decorate('streamRepository', repository);
  if (!config.stream.enabled) return;
  const options = config.stream;
  const log = app.log.child({ component: 'stream' });
  const hub = createStreamHub({
    repository,
    liveSessions: (logins) => app.sessionsRepository.liveSessions(logins),
    pollIntervalMs: options.pollIntervalMs,
    heartbeatMs: options.heartbeatMs,
    recheckMs: options.recheckMs,
    log,
  });
  // The metrics plugin's registry (a declared dependency); with several workers, their sum.
  new Gauge({
    name: 'stream_connections_open',
    help: 'Open GET /api/v1/stream connections',
    registers: [app.metricsRegistry],
    collect() {
      this.set(hub.open);
    },
  });
  const notify = createCoalescedNotify(
    () => repository.notify(OUTBOX_CHANNEL),
    NOTIFY_EVERY_MS,
    (err) => log.warn({ err: loggable(err) }, 'could not tell the other instances of new events (they poll)'),
  );
  // This instance's feed at once; the others' through NOTIFY, after the commit.
  app.wakeAfterCommits(() => {
    hub.wake();
    notify.kick();
  });
  const listener = createListener({
    connectionString: config.databaseUrl,
    applicationName: 'task-api-stream-listener',
    channels: [OUTBOX_CHANNEL, AUTH_CHANNEL],
    onNotification(channel, payload) {
      if (channel === OUTBOX_CHANNEL) hub.wake();
      else if (payload.startsWith('s:')) hub.recheckSession(payload.slice(2));
      else if (payload.startsWith('u:')) hub.recheckUser(Number(payload.slice(2)));
      else hub.recheckAll();
    },
    // Whatever was announced while not listening was missed.
    onListening: () => {
      hub.wake();
      hub.recheckAll();
    },
    // While it is down the feed still polls and the periodic re-check still runs: streams are late, never wrong.
    lostMessage: 'stream listener lost: polling until it is back',
    log,
  });
  const service = createStreamService({
    repository,
    findSessionUser: (sessionId, userId) => app.sessionsRepository.findSessionUser(sessionId, userId),
  });
  await app.register(streamRoutes, {
    prefix: '/api/v1',
    service,
    hub,
    maxPerUser: options.maxPerUser,
    maxPerInstance: options.maxPerInstance,
  });
  app.addHook('onReady', async () => {
    await listener.start();
    hub.start();
  });
  // Before the server closes: it waits for open responses, and a stream is one until it ends.
  app.addHook('preClose', async () => {
    notify.stop();
    await hub.close();
    await listener.close();
  });
}

export default fp(stream, { name: 'stream', dependencies: ['config', 'db', 'sessions', 'events', 'metrics'] });
