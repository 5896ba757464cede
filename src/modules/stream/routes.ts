import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { AppError, invalidField, unauthorized } from '../../lib/errors.js';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import type { StreamHub } from './hub.js';
import { parsePosition } from './position.js';
import { EventStream, RETRY_MS, StreamHeaders, StreamQuery, StreamTicket, TICKET_SECONDS } from './schemas.js';
import type { StreamService } from './service.js';

export interface StreamRouteOptions {
  service: StreamService;
  hub: StreamHub;
  maxPerUser: number;
  maxPerInstance: number;
}

const TICKET = /^[A-Za-z0-9_-]{43}$/;
const RETRY_AFTER_SECONDS = '5';

/**
 * GET /stream and POST /stream/tickets: thin, over the hub (hub.ts) and the tickets (service.ts).
 * No personal access token scope yet (this base has none): a session's token, or its ticket.
 */
const streamRoutes: FastifyPluginAsyncTypebox<StreamRouteOptions> = async (app, { service, hub, maxPerUser, maxPerInstance }) => {
  const common = { tags: ['stream'], security: BEARER_SECURITY };

  /** A ticket in the query (spent here, whatever follows), or the Authorization header; both must name one user. */
  const authenticateStream = async (request: FastifyRequest) => {
    const { ticket } = request.query as { ticket?: unknown };
    // Not a ticket's shape: the Authorization header decides, then validation refuses the query (422).
    if (typeof ticket !== 'string' || !TICKET.test(ticket)) return app.authenticate(request);
    const user = await service.redeem(ticket);
    if (!user) throw unauthorized('The stream ticket is invalid, expired or already used: ask for a new one');
    if (request.headers.authorization !== undefined && (await app.sessionUser(request))?.id !== user.id) {
      throw unauthorized('The ticket and the access token are not of the same user');
    }
    request.currentUser = user;
  };

  app.post(
    '/stream/tickets',
    {
      preParsing: app.authenticate,
      schema: {
        ...common,
        summary: 'Get a stream ticket',
        description:
          `For EventSource, which cannot send headers: a ticket for GET /stream?ticket=…, valid ${TICKET_SECONDS} seconds, once, ` +
          "as the caller's login (it stops working when that login ends). Ask for a new one for each connection.",
        response: { 201: StreamTicket, ...problemResponses(401) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await service.issueTicket(request.currentUser)),
  );

  app.get(
    '/stream',
    {
      preParsing: authenticateStream,
      schema: {
        ...common,
        summary: 'Follow changes live (Server-Sent Events)',
        description:
          'The events of what the caller may see (tasks, projects, memberships, labels, the account), as webhooks get them, from ' +
          'every instance, in commit order. Authenticate with Authorization: Bearer, or with ?ticket= (POST /stream/tickets) ' +
          'from EventSource. Last-Event-ID (or last_event_id) resumes from the outbox; a position it no longer keeps gets ' +
          '`event: reset`. The stream ends when the login does (logout, revocation, deactivation) and when the instance ' +
          `shuts down: reconnect and resume. At most ${maxPerUser} open streams per user and instance (429).`,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: {
          200: {
            description: 'The stream: it stays open, with a heartbeat comment every STREAM_HEARTBEAT_MS',
            content: { 'text/event-stream': { schema: EventStream } },
          },
          ...problemResponses(401, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const user = request.currentUser;
      const resumeText = request.headers['last-event-id'] ?? request.query.last_event_id;
      const resume = resumeText === undefined ? undefined : parsePosition(resumeText);
      if (resumeText !== undefined && !resume) throw invalidField('last-event-id', 'not a position this API sent', 'header');
      // Checked and added in one turn of the event loop: two requests at once cannot both take the last place.
      if (hub.streamsOf(user.id) >= maxPerUser) {
        throw new AppError(429, `At most ${maxPerUser} open streams per user: close one first`, {
          headers: { 'retry-after': RETRY_AFTER_SECONDS },
        });
      }
      if (hub.open >= maxPerInstance) {
        throw new AppError(503, 'This instance holds all the streams it may; retry shortly (another may have room)', {
          headers: { 'retry-after': RETRY_AFTER_SECONDS },
        });
      }
      reply.hijack();
      const res = reply.raw;
      // The headers the hooks gave the reply (request id, CORS, rate limit); helmet's are on res already.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // nginx (and proxies that honour it) pass each event on at once instead of buffering.
        'x-accel-buffering': 'no',
      });
      request.raw.socket.setNoDelay(true);
      res.write(`retry: ${RETRY_MS}\n\n`);
      const stream = hub.add({ userId: user.id, sessionId: user.sessionId, res, resume });
      res.on('close', () =>
        request.log.info(
          {
            method: request.method,
            route: request.routeOptions.url,
            status: 200,
            duration_ms: Math.round(reply.elapsedTime),
            user_id: user.id,
            events: stream.events,
          },
          'stream closed',
        ),
      );
    },
  );
};

export default streamRoutes;
