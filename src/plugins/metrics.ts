import cluster from 'node:cluster';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS_REQUEST, METRICS_RESPONSE } from '../lib/cluster-messages.js';
import { unauthorized } from '../lib/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Where plugins with figures of their own (replicas, events) register them. */
    metricsRegistry: Registry;
  }
}

/** With several workers, the primary gathers every worker's figures (see cluster.ts). */
function clusterMetrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    const id = `${process.pid}-${Date.now()}-${Math.random()}`;
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('the primary did not answer with metrics'));
    }, 5_000);
    const onMessage = (message: { type?: string; id?: string; metrics?: string; error?: string }) => {
      if (message?.type !== METRICS_RESPONSE || message.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      if (message.error !== undefined) reject(new Error(message.error));
      else resolve(message.metrics ?? '');
    };
    process.on('message', onMessage);
    process.send?.({ type: METRICS_REQUEST, id });
  });
}

function tokenMatches(request: FastifyRequest, expected: string): boolean {
  const presented = Buffer.from(/^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '');
  const wanted = Buffer.from(expected);
  return presented.length === wanted.length && timingSafeEqual(presented, wanted);
}

/** Prometheus metrics: requests by route and status, their durations, the database pool, the process. */
async function metrics(app: FastifyInstance) {
  const registry = new Registry();
  app.decorate('metricsRegistry', registry);
  collectDefaultMetrics({ register: registry });
  // The Node.js version tells an attacker which published vulnerabilities to try; monitoring needs no such label.
  registry.removeSingleMetric('nodejs_version_info');
  const labelNames = ['method', 'route', 'status_code'] as const;
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer HTTP requests',
    labelNames,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const pool = app.pool;
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  if (cluster.isWorker) {
    // Constructing one installs prom-client's listener that answers the primary's aggregation requests.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? '(unmatched)',
      status_code: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  // In production, figures are served only to whoever holds METRICS_TOKEN: without it there is no
  // /metrics route at all (a 404 like any unknown path), never an anonymous one.
  const token = app.config.metricsToken;
  if (token === undefined && app.config.nodeEnv === 'production') {
    app.log.warn('GET /metrics is not served: NODE_ENV=production needs METRICS_TOKEN to serve it');
    return;
  }

  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics',
        description:
          'Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set; with NODE_ENV=production and no ' +
          'METRICS_TOKEN the route does not exist. With several workers, figures cover all of them.',
      },
    },
    async (request, reply) => {
      if (token && !tokenMatches(request, token)) throw unauthorized('A valid metrics token is required');
      const body = cluster.isWorker && process.send ? await clusterMetrics() : await registry.metrics();
      return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
    },
  );
}

export default fp(metrics, { name: 'metrics', dependencies: ['db'] });
