import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import net from 'node:net';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from './app.js';
import type { AppConfig } from './config.js';
import { SHUTDOWN_MESSAGE } from './lib/cluster-messages.js';

/**
 * Longest time a shutdown spends draining connections before app.close() closes the idle ones. Under
 * load a proxy uses up its idle connections to this instance quickly (each is closed after one more
 * answer); without load nothing is sent on them, so closing them at the end is safe.
 */
const DRAIN_MAX_MS = 5_000;

/** The idle connections left are closed once no request has come for this long. */
const DRAIN_QUIET_MS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Connections waiting in the kernel's accept queue of the listening socket on `port`, on Linux
 * (/proc/net/tcp lists listening sockets, state 0A, with that queue as rx_queue); undefined elsewhere.
 */
export function acceptQueueLength(port: number): number | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state, queues] = line.trim().split(/\s+/);
      if (state !== '0A' || !local || !queues) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      return Number.parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    }
  }
  return undefined;
}

/**
 * Stops taking connections without resetting a request a proxy has sent, then lets the open
 * connections drain until no request has come for DRAIN_QUIET_MS, for at most `maxMs` in all;
 * app.close() then closes what is left. A proxy must
 * not retry a POST it has sent (nginx does not), so a reset POST would be a failed request.
 *
 * - Closing a listener resets the connections the kernel has accepted but the app has not yet taken,
 *   and under load the event loop takes them late (one per turn, measured). So the listener closes
 *   at a moment its accept queue is empty: read (Linux) just before closing, in the same turn;
 *   elsewhere right after the event loop has taken the waiting connections. Until then responses keep
 *   their connection open, so the proxy reuses it rather than queueing new ones. From then on a
 *   connection is refused, which a proxy retries on another instance whatever the method.
 * - http.Server's close() destroys every idle keep-alive connection at once, and one that looks idle
 *   may already hold a request the app has not read. So only the listening socket closes here
 *   (net.Server's close), and `onListenerClosed` makes responses carry `Connection: close` (health
 *   plugin): the proxy closes each connection after its answer.
 */
export async function drainConnections(server: Server, maxMs: number, onListenerClosed: () => void): Promise<void> {
  const deadline = Date.now() + maxMs;
  let lastRequest = Date.now();
  const onRequest = () => {
    lastRequest = Date.now();
  };
  server.on('request', onRequest);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : undefined;
  for (;;) {
    await nextTurn();
    const waiting = port === undefined ? undefined : acceptQueueLength(port);
    if (!waiting || Date.now() >= deadline) break;
  }
  let allClosed = false;
  net.Server.prototype.close.call(server, () => {
    allClosed = true;
  });
  onListenerClosed();
  // Connections still open are idle or busy; app.close() waits for the busy ones. Idle ones are left
  // until nothing has been sent for DRAIN_QUIET_MS: the proxy then no longer chooses this instance
  // (or has no load), so closing them cannot cut a request.
  while (!allClosed && Date.now() < deadline && Date.now() - lastRequest < DRAIN_QUIET_MS) await sleep(25);
  server.off('request', onRequest);
}

/**
 * Builds and runs the app until a signal (or, in a worker, the primary) asks it to stop: /readyz
 * turns 503 at once, requests in flight finish, the listener and the connections drain (see
 * drainConnections), pools close, then `cleanup` runs.
 * Exits 0, or 1 when the shutdown outlasts SHUTDOWN_TIMEOUT_MS.
 */
export async function serve(config: AppConfig, logger: FastifyBaseLogger, cleanup: () => Promise<void> = async () => {}) {
  const worker = cluster.isWorker;
  // A worker stops when its primary says so (the primary handles the signals for all of them). The
  // handlers go in before the app is built, so a request to stop during start-up is not lost.
  let stop: () => void = () => {};
  let stopRequested = false;
  if (worker) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
    const request = () => {
      if (stopRequested) return;
      stopRequested = true;
      stop();
    };
    process.on('message', (message: { type?: string }) => {
      if (message?.type === SHUTDOWN_MESSAGE) request();
    });
    process.on('disconnect', request);
  }

  const app = await buildApp(config, { loggerInstance: logger });
  const shutdown = closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      logger,
      ...(worker ? { skip: ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as closeWithGrace.Signals[] } : {}),
    },
    async ({ err, signal }) => {
      if (err) logger.error({ err }, 'shutting down after an unexpected error');
      else logger.info({ signal }, 'shutting down');
      app.lifecycle.shuttingDown = true;
      if (app.server.listening)
        await drainConnections(app.server, Math.min(DRAIN_MAX_MS, config.shutdownTimeoutMs / 2), () => {
          app.lifecycle.closingConnections = true;
        });
      app.lifecycle.closingConnections = true;
      await app.close();
      await cleanup();
    },
  );
  stop = () => shutdown.close();
  if (stopRequested) {
    stop();
    return app;
  }
  await app.listen({ host: config.host, port: config.port });
  return app;
}
