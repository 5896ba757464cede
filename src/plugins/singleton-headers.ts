import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../lib/errors.js';

/**
 * RFC 9110 §5.3: a field defined as a singleton may appear once. Node keeps only the first of
 * repeated Authorization headers, while a proxy or another parser may honour the last: one request,
 * two identities. Such a request is refused before anything (rate limiting included) reads it.
 */
const SINGLETONS = new Map([['authorization', 'Authorization']]);

async function singletonHeaders(app: FastifyInstance) {
  app.addHook('onRequest', async (request) => {
    const seen = new Set<string>();
    const raw = request.raw.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      if (!SINGLETONS.has(name)) continue;
      if (seen.has(name)) throw new AppError(400, `Only one ${SINGLETONS.get(name)} header is allowed`);
      seen.add(name);
    }
  });
}

// After observability (the refusal carries the request id like any answer), before rate limiting.
export default fp(singletonHeaders, { name: 'singleton-headers', dependencies: ['observability'] });
