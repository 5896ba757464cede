import { PROBLEM_CONTENT_TYPE } from '../lib/schemas.js';

/**
 * What every operation shares, added to the generated OpenAPI document once instead of repeating
 * it in each route: the responses and headers that cross-cutting plugins give every route (rate
 * limits, CORS, authentication, malformed requests, internal errors), operation ids and
 * descriptions. It only describes; behaviour stays in the plugins (rate-limit, errors, auth, cors).
 */

// biome-ignore lint/suspicious/noExplicitAny: the generated document is plain JSON of many shapes, walked by key.
type Json = Record<string, any>;

const problem = (description: string, headers: Json = {}) => ({
  description,
  headers,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
});

const integerHeader = (description: string) => ({
  description,
  schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 2_147_483_647 },
});

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': {
    description:
      "The request's Origin when CORS_ORIGINS allows it, or `*` when any origin is allowed (the default); credentials are never allowed",
    // `*` is not a URI, so no `format: uri`: the pattern admits exactly what is sent (`*` or an origin).
    schema: { type: 'string', maxLength: 2048, pattern: '^(\\*|[a-z][a-z0-9+.-]*://[^\\s/?#]+)$' },
  },
};

const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': integerHeader('Requests allowed in the window (absent when RATE_LIMIT_ENABLED=false)'),
  'RateLimit-Remaining': integerHeader('Requests left in the window'),
  'RateLimit-Reset': integerHeader('Seconds until the window resets'),
};

const INSUFFICIENT_SCOPE_HEADER = {
  description:
    'For a personal access token without the scope needed (RFC 6750 §3.1): `Bearer error="insufficient_scope"`, and `scope="…"` naming it',
  schema: { type: 'string', maxLength: 100, pattern: '^Bearer error="insufficient_scope"(, scope="[a-z:]+")?$' },
};

/** Paths answered outside the rate limits (load balancers and monitoring poll them). */
const UNLIMITED = new Set(['/healthz', '/readyz', '/metrics']);

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter((s) => s && s !== 'api' && !/^v\d+$/.test(s))
    .map((s) => (s.startsWith('{') ? `By_${s.slice(1, -1)}` : s))
    .flatMap((s) => s.split(/[_-]/))
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return `${method}${words.join('')}`;
}

export function completeDocument(document: Json): Json {
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    const limited = !UNLIMITED.has(path);
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      operation.operationId ??= operationId(method, path);
      operation.description ??= operation.summary;
      operation.responses ??= {};
      const responses = operation.responses as Json;
      const secured = Array.isArray(operation.security) ? operation.security.length > 0 : Boolean(document.security?.length);
      // Any route: a path that is not valid percent-encoding, or a repeated Authorization header (singleton-headers).
      responses['400'] ??= problem('Malformed request (an unparsable URL or body, or more than one Authorization header)');
      if (secured && !responses['401']) responses['401'] = problem('Missing, invalid, expired or revoked credentials');
      // Any secured route: a personal access token without the scope the route needs (or on a route that
      // takes none), and with REQUIRE_VERIFIED_EMAIL an account whose email is not verified yet.
      if (secured) {
        responses['403'] ??= problem('Authenticated, but not allowed');
        responses['403'].description =
          `${responses['403'].description}; or a personal access token without the scope this operation needs; ` +
          'or, with REQUIRE_VERIFIED_EMAIL, an account whose email is not verified yet';
        responses['403'].headers = { ...(responses['403'].headers ?? {}), 'WWW-Authenticate': INSUFFICIENT_SCOPE_HEADER };
      }
      if (limited && !responses['429']) {
        responses['429'] = problem('Too many requests: a rate limit is spent', {
          'Retry-After': integerHeader('Seconds to wait before retrying'),
        });
      }
      responses['500'] ??= problem('Internal server error: the body says only that; details go to the log');
      for (const [status, response] of Object.entries<Json>(responses)) {
        response.headers = { ...CORS_HEADERS, ...(response.headers ?? {}) };
        if (status === '429') response.headers['Retry-After'] ??= integerHeader('Seconds to wait before retrying');
        if (limited && /^[24]/.test(status)) response.headers = { ...response.headers, ...RATE_LIMIT_HEADERS };
      }
    }
  }
  return document;
}
