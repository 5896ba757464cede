import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from './app.js';
import type { AppConfig } from './config.js';

export const SHUTDOWN_MESSAGE = 'task-api:shutdown';

/**
 * Builds and runs the app until a signal (or, in a worker, the primary) asks it to stop: /readyz
 * turns 503 at once, requests in flight finish, connections and pools close, then `cleanup` runs.
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
