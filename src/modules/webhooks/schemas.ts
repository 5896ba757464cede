import { type Static, Type } from 'typebox';
import { WEBHOOK_DELIVERY_STATUSES } from '../../db/enums.js';
import { paginationQuery } from '../../lib/pagination.js';
import { OneOf, RowId, SAFE_TEXT, Timestamp } from '../../lib/schemas.js';
import { ALL_EVENTS, PING_EVENT_TYPE, SUBSCRIBABLE_EVENT_TYPES } from './events.js';
import { MAX_URL_LENGTH } from './ssrf/target.js';

export const DESCRIPTION_MAX = 500;
/** Webhooks one user may have. */
export const MAX_WEBHOOKS_PER_USER = 20;

const EventTypes = Type.Array(OneOf([ALL_EVENTS, ...SUBSCRIBABLE_EVENT_TYPES]), {
  minItems: 1,
  maxItems: SUBSCRIBABLE_EVENT_TYPES.length + 1,
  uniqueItems: true,
  description: `The event types to receive, or ["${ALL_EVENTS}"] for every one (types added later included)`,
  examples: [['task.created', 'task.updated']],
});
const Url = Type.String({
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  format: 'uri',
  description:
    'https:// (http:// too outside production), no credentials or fragment. Its host is resolved at every delivery and refused when any address is loopback, private, link-local, unique-local, multicast or a cloud metadata address',
  examples: ['https://hooks.example.com/task-api'],
});
const Description = Type.Union([Type.String({ maxLength: DESCRIPTION_MAX, pattern: SAFE_TEXT }), Type.Null()], {
  description: `Up to ${DESCRIPTION_MAX} characters, or null`,
  examples: ['Chat notifications'],
});

export const Webhook = Type.Object(
  {
    id: RowId([3]),
    url: { ...Url, description: 'Where deliveries are POSTed' },
    description: Description,
    events: EventTypes,
    active: Type.Boolean({
      description: 'false: nothing is delivered (disabled by its owner, or after failing deliveries: see disabled_reason)',
    }),
    disabled_reason: Type.Union([Type.String({ maxLength: 200, pattern: SAFE_TEXT }), Type.Null()], {
      description: 'Why task-api disabled it, or null',
      examples: [null],
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Webhook', additionalProperties: false },
);
export type Webhook = Static<typeof Webhook>;

export const CreatedWebhook = Type.Object(
  {
    ...Webhook.properties,
    secret: Type.String({
      maxLength: 100,
      pattern: '^whsec_[A-Za-z0-9+/=]+$',
      description:
        'The signing secret (Standard Webhooks): shown this once, never again. Keep it where your receiver can read it',
      examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    }),
  },
  { title: 'CreatedWebhook', additionalProperties: false },
);
export type CreatedWebhook = Static<typeof CreatedWebhook>;

export const WebhookCreateBody = Type.Object(
  { url: Url, events: EventTypes, description: Type.Optional({ ...Description, default: null }) },
  { title: 'WebhookCreate', additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreateBody>;

export const WebhookUpdateBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(EventTypes),
    description: Type.Optional(Description),
    active: Type.Optional(
      Type.Boolean({ description: 'false pauses it; true enables it again (its count of failures starts over)' }),
    ),
  },
  {
    title: 'WebhookUpdate',
    additionalProperties: false,
    minProperties: 1,
    description: 'The fields to change (at least one); the others are kept',
  },
);
export type WebhookUpdate = Static<typeof WebhookUpdateBody>;

export const WebhookListQuery = Type.Object({ ...paginationQuery }, { additionalProperties: false });

export const Delivery = Type.Object(
  {
    id: RowId([81]),
    event_id: Type.String({ format: 'uuid', maxLength: 36, description: 'The event id: the webhook-id header of every attempt' }),
    event_type: Type.String({
      maxLength: 100,
      pattern: '^[a-z_]+\\.[a-z_]+$',
      description: `The event's type (${PING_EVENT_TYPE} for a test)`,
      examples: ['task.updated'],
    }),
    status: {
      ...OneOf(WEBHOOK_DELIVERY_STATUSES),
      description:
        'pending (waiting for an attempt or a retry), delivered (a 2xx), failed (every attempt failed, or the webhook was disabled), skipped (its owner could not see the resource when it was due: not sent)',
    },
    attempts: Type.Integer({ format: 'int32', minimum: 0, maximum: 1000, description: 'Attempts made so far' }),
    response_status: Type.Union([Type.Integer({ format: 'int32', minimum: 100, maximum: 599 }), Type.Null()], {
      description: "The last attempt's HTTP status, or null (no response)",
      examples: [200],
    }),
    duration_ms: Type.Union([Type.Integer({ format: 'int32', minimum: 0, maximum: 3_600_000 }), Type.Null()], {
      description: 'How long the last attempt took',
      examples: [84],
    }),
    error: Type.Union([Type.String({ maxLength: 300, pattern: SAFE_TEXT }), Type.Null()], {
      description: 'Why the last attempt failed (a connection error, a timeout, a refused address, a non-2xx status), or null',
      examples: [null],
    }),
    next_attempt_at: Type.Union([Timestamp, Type.Null()], {
      description: 'When the next attempt is due (pending only), or null',
    }),
    last_attempt_at: Type.Union([Timestamp, Type.Null()], { description: 'When the last attempt started, or null' }),
    created_at: Timestamp,
  },
  { title: 'WebhookDelivery', additionalProperties: false },
);
export type Delivery = Static<typeof Delivery>;
