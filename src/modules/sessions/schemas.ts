import { type Static, Type } from 'typebox';
import { SHOWN_IPV4_PREFIX, SHOWN_IPV6_PREFIX } from '../../lib/client-address.js';
import { Timestamp } from '../../lib/schemas.js';
import { MAX_USER_AGENT_LENGTH } from './client-details.js';
import { LAST_USED_STEP_SECONDS } from './repository.js';

/** A user has a few logins; the list is capped all the same (the least recently used are left out). */
export const MAX_SESSIONS_LISTED = 100;

/** A session (login) id; 36 characters exactly, so no `urn:uuid:` or other spelling reaches the database. */
const SessionId = Type.String({
  format: 'uuid',
  minLength: 36,
  maxLength: 36,
  description: 'Session id',
  examples: ['0b7e3b5c-3f4a-4d55-9a57-1c2b8e6f0a11'],
});

export const SessionIdParams = Type.Object({ id: SessionId }, { additionalProperties: false });

export const Session = Type.Object(
  {
    id: SessionId,
    created_at: Timestamp,
    last_used_at: Type.Unsafe<Date>({
      ...Timestamp,
      description:
        `The last login, refresh or request with its tokens. Written at most every ${LAST_USED_STEP_SECONDS} seconds, ` +
        'so it may be behind by that much (twice that with the login cache on)',
    }),
    user_agent: Type.Union([Type.String({ maxLength: MAX_USER_AGENT_LENGTH }), Type.Null()], {
      description: `The User-Agent of the login or last refresh, cut to ${MAX_USER_AGENT_LENGTH} characters; null when none was sent`,
      examples: ['Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0'],
    }),
    address: Type.Union([Type.String({ maxLength: 50, pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$' }), Type.Null()], {
      description:
        `The network the login or last refresh came from, never the address itself: IPv4 as its /${SHOWN_IPV4_PREFIX}, ` +
        `IPv6 as its /${SHOWN_IPV6_PREFIX}; null when unknown`,
      examples: ['203.0.113.0/24'],
    }),
    current: Type.Boolean({ description: 'Whether this is the session of the token making the request' }),
  },
  { title: 'Session', additionalProperties: false },
);
export type Session = Static<typeof Session>;
