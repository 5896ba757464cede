import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from 'typebox';
import { withTimeout } from '../lib/timeout.js';

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: {
      /** Set when shutdown begins: /readyz answers 503 from then on, so balancers stop sending traffic. */
      shuttingDown: boolean;
      /** Set once the listener has closed: every response then closes its connection. */
      closingConnections: boolean;
    };
  }
}

const CHECK_TIMEOUT_MS = 2_000;

const Readiness = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    checks: Type.Record(Type.String({ maxLength: 20 }), Type.String({ enum: ['ok', 'failing', 'in progress'] }), {
      examples: [{ database: 'ok', redis: 'ok' }],
    }),
    replicas: Type.Optional(
      Type.Object(
        {
          healthy: Type.Integer({ description: 'Replicas serving reads now', format: 'int32', minimum: 0, maximum: 1000 }),
          total: Type.Integer({ format: 'int32', minimum: 0, maximum: 1000 }),
          members: Type.Record(
            Type.String({ maxLength: 20 }),
            Type.String({ enum: ['ok', 'starting', 'lagging', 'down', 'not_in_recovery', 'unchecked'] }),
            {
              description:
                '`ok`, or why the replica is skipped: `starting` (not checked yet), `lagging`, `down`, `not_in_recovery`, `unchecked`',
            },
          ),
        },
        {
          description:
            'With DATABASE_REPLICA_URLS only. Never makes readiness fail: without a healthy replica, reads go to the primary.',
          examples: [{ healthy: 1, total: 2, members: { 'replica-1': 'ok', 'replica-2': 'lagging' } }],
        },
      ),
    ),
  },
  { title: 'Readiness' },
);

/** Liveness (the process answers) and readiness (its dependencies answer, and it is not shutting down). */
async function health(app: FastifyInstance) {
  app.decorate('lifecycle', { shuttingDown: false, closingConnections: false });
  // Responses finishing during shutdown (once the listener has closed, see serve.ts) close their
  // keep-alive connection, so closing the server waits for requests in flight and not for idle
  // clients to time out.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (app.lifecycle.closingConnections) reply.header('connection', 'close');
    return payload;
  });
  const ops = { tags: ['ops'], security: [] };

  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        ...ops,
        summary: 'Liveness: the process is up (checks nothing else)',
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { title: 'Health' }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        ...ops,
        summary: 'Readiness: the database (and Redis, when configured) answer; replicas are reported',
        description:
          '503 naming what fails, and 503 from the moment shutdown begins. With events on, `amqp` reports whether ' +
          'RabbitMQ is reachable, for information only: events wait in the outbox while it is not, so it never makes a 503.',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      const probe = async (name: string, check: () => Promise<unknown>) => {
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          checks[name] = 'ok';
        } catch (err) {
          // The reason goes to the log, not to an unauthenticated caller.
          app.log.warn({ check: name, err: { message: (err as Error).message } }, 'readiness check failed');
          checks[name] = 'failing';
        }
      };
      await Promise.all([
        probe('database', () => app.pool.query('SELECT 1')),
        ...(app.redis ? [probe('redis', () => (app.redis as NonNullable<typeof app.redis>).ping())] : []),
      ]);
      // Replicas are reported, not required: the primary serves every read when none is healthy.
      const replicas = app.replicas.status();
      const ok = !app.lifecycle.shuttingDown && Object.values(checks).every((c) => c === 'ok');
      // Informational only: with RabbitMQ down, requests still succeed (events wait in the outbox),
      // and every instance shares the broker, so failing readiness would only turn its outage into ours.
      if (app.events) checks.amqp = app.events.brokerConnected ? 'ok' : 'failing';
      if (app.lifecycle.shuttingDown) checks.shutdown = 'in progress';
      return reply
        .code(ok ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: ok ? 'ok' : 'unavailable', checks, ...(replicas ? { replicas } : {}) });
    },
  );
}

export default fp(health, { name: 'health', dependencies: ['db', 'redis', 'replicas', 'events'] });
