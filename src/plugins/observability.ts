import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const WELL_FORMED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A client's X-Request-Id when it is well formed (so it cannot forge log lines), otherwise a new UUID. */
export function requestId(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && WELL_FORMED_ID.test(header) ? header : randomUUID();
}

/**
 * One log line per request (id, method, route, status, duration, user) instead of Fastify's two;
 * the request id is echoed in X-Request-Id. Headers and bodies are never logged.
 */
async function observability(app: FastifyInstance) {
  // Each worker of a cluster names itself apart, so load balancing can be seen from outside.
  const name = app.config.instanceName;
  const instance = name && cluster.isWorker ? `${name}-w${cluster.worker?.id}` : name;
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (instance) reply.header('x-instance', instance);
  });
  app.addHook('onResponse', async (request, reply) => {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? '(unmatched)',
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      user_id: request.currentUser?.id,
    };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else request.log.info(line, 'request');
  });
}

export default fp(observability, { name: 'observability', dependencies: ['sessions'] });
