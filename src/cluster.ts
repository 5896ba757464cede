import cluster, { type Worker } from 'node:cluster';
import type { FastifyBaseLogger } from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig } from './config.js';
import type { DatabaseTarget } from './db/connect.js';
import { METRICS_REQUEST, METRICS_RESPONSE, SHUTDOWN_MESSAGE } from './lib/cluster-messages.js';

const RESTART_DELAY_MS = 1_000;

/**
 * WORKERS > 1: the primary owns the database target (and the embedded server), forks the workers
 * on one shared port, replaces any that die, answers their metrics requests with figures from all
 * of them, and on SIGTERM or SIGINT asks each to shut down gracefully before it stops the database.
 */
export function runPrimary(config: AppConfig, database: DatabaseTarget, logger: FastifyBaseLogger) {
  const aggregator = new AggregatorRegistry();
  // Workers use the resolved secrets and the database the primary prepared (migrations already applied).
  const workerEnv = { DATABASE_URL: database.url, JWT_SECRET: config.jwtSecret, PASSWORD_PEPPER: config.passwordPepper };
  let stopping = false;

  const fork = () => cluster.fork(workerEnv);
  for (let i = 0; i < config.workers; i++) fork();
  logger.info({ workers: config.workers }, 'primary started its workers');

  cluster.on('message', (worker: Worker, message: { type?: string; id?: string }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator
      .clusterMetrics()
      .then((metrics) => worker.send({ type: METRICS_RESPONSE, id: message.id, metrics }))
      .catch((err: Error) => worker.send({ type: METRICS_RESPONSE, id: message.id, error: err.message }));
  });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS).unref();
  });

  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down the workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exits = workers.map((w) => new Promise<number | null>((resolve) => w.once('exit', (code) => resolve(code))));
    for (const w of workers) w.send({ type: SHUTDOWN_MESSAGE });
    const deadline = setTimeout(() => {
      logger.error('workers did not stop in time; killing them');
      for (const w of workers) w.process.kill('SIGKILL');
    }, config.shutdownTimeoutMs + 2_000);
    const codes = await Promise.all(exits);
    clearTimeout(deadline);
    await database.stop();
    process.exit(codes.every((c) => c === 0) ? 0 : 1);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
