import { type Static, Type } from 'typebox';
import { Timestamp } from '../../lib/schemas.js';

/** How long a stream ticket is valid, once. */
export const TICKET_SECONDS = 60;
/** The reconnection delay the stream suggests to EventSource (`retry:`). */
export const RETRY_MS = 3_000;

const TICKET_PATTERN = '^[A-Za-z0-9_-]{43}$';
const POSITION_PATTERN = '^[0-9]{1,20}-[0-9]{1,19}$';
const Position = (description: string) =>
  Type.String({ maxLength: 40, pattern: POSITION_PATTERN, description, examples: ['7741-10234'] });

export const StreamQuery = Type.Object(
  {
    ticket: Type.Optional(
      Type.String({
        minLength: 43,
        maxLength: 43,
        pattern: TICKET_PATTERN,
        description:
          'A stream ticket (POST /stream/tickets), for clients that cannot send an Authorization header (EventSource). Used once; never logged',
      }),
    ),
    last_event_id: Type.Optional(
      Position('Where to resume, as Last-Event-ID does (for a new EventSource made after a ticket ran out); the header wins'),
    ),
  },
  { additionalProperties: false },
);
export type StreamQuery = Static<typeof StreamQuery>;

export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Position('The `id:` of the last event received: the stream first sends what came after it that the caller may see'),
  ),
});

export const EventStream = Type.String({
  title: 'EventStream',
  maxLength: 10_485_760,
  description:
    'text/event-stream (README, "Integrations"): per event `id: <position>`, `event: <type>`, `data: <the event body, as webhooks get it>`; ' +
    '`event: reset` when Last-Event-ID is older than the outbox keeps (reload, then follow); a comment line as heartbeat; `retry:` once',
  examples: ['retry: 3000\n\nid: 7741-10234\nevent: task.created\ndata: {"id":"…","type":"task.created",…}\n\n'],
});

export const StreamTicket = Type.Object(
  {
    ticket: Type.String({
      minLength: 43,
      maxLength: 43,
      pattern: TICKET_PATTERN,
      description: `Put it in GET /stream?ticket=… within ${TICKET_SECONDS} seconds; it opens one stream, once, as the login that asked for it`,
      examples: ['Zm9yIGV4YW1wbGUgb25seTogbm90IGEgcmVhbCB0aWN'],
    }),
    expires_at: Timestamp,
    expires_in: Type.Integer({
      format: 'int32',
      minimum: 1,
      maximum: 3600,
      description: 'Seconds until it expires',
      examples: [60],
    }),
  },
  { title: 'StreamTicket', additionalProperties: false },
);
export type StreamTicket = Static<typeof StreamTicket>;
