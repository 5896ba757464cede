import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { contentEtag, noneMatch } from '../lib/etag.js';

/**
 * Conditional GET for every successful GET: an ETag (the route's own, or a hash of the body) and
 * 304 with no body when If-None-Match names it. Responses to authenticated requests carry personal
 * data: `private, no-cache` (a cache may keep them, but must revalidate; shared caches must not).
 */
async function httpCache(app: FastifyInstance) {
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.currentUser && !reply.hasHeader('cache-control')) reply.header('cache-control', 'private, no-cache');
    if ((request.method !== 'GET' && request.method !== 'HEAD') || reply.statusCode !== 200) return payload;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    let etag = reply.getHeader('etag') as string | undefined;
    if (!etag) {
      // A page is its items and its paging headers: a new total changes the tag even if the items do not.
      const paging = `${reply.getHeader('x-total-count') ?? ''}\n${reply.getHeader('link') ?? ''}`;
      etag = contentEtag(payload, paging);
      reply.header('etag', etag);
    }
    if (noneMatch(request.headers['if-none-match'], etag)) {
      reply.code(304);
      reply.removeHeader('content-length');
      return '';
    }
    return payload;
  });
}

export default fp(httpCache, { name: 'http-cache', dependencies: ['sessions'] });
