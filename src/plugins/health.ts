import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from 'typebox';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set when shutdown begins: /readyz answers 503 from then on, so balancers stop sending traffic. */
    lifecycle: { shuttingDown: boolean };
  }
}

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Record(Type.String({ maxLength: 20 }), Type.String({ enum: ['ok', 'failing'] }), {
    examples: [{ database: 'ok', redis: 'ok' }],
  }),
});

/** Liveness (the process answers) and readiness (its dependencies answer, and it is not shutting down). */
async function health(app: FastifyInstance) {
  app.decorate('lifecycle', { shuttingDown: false });
  // Responses finishing during shutdown close their keep-alive connection, so closing the server
  // waits for requests in flight and not for idle clients to time out.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (app.lifecycle.shuttingDown) reply.header('connection', 'close');
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
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
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
        summary: 'Readiness: the database (and Redis, when configured) answer',
        description: '503 naming what fails, and 503 from the moment shutdown begins.',
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
      if (app.lifecycle.shuttingDown) checks.shutdown = 'in progress';
      const ok = !app.lifecycle.shuttingDown && Object.values(checks).every((c) => c === 'ok');
      return reply
        .code(ok ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: ok ? 'ok' : 'unavailable', checks });
    },
  );
}

export default fp(health, { name: 'health', dependencies: ['db', 'redis'] });
