import { type TLiteral, type TSchema, type TUnion, Type } from 'typebox';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A validation failure lists at most this many field errors (a body with thousands of unknown keys is refused just as well). */
export const MAX_FIELD_ERRORS = 20;
/** What a problem's detail and a field error's field and message may hold; longer text is cut (a field name is the client's). */
export const MAX_DETAIL_LENGTH = 2000;
export const MAX_FIELD_TEXT_LENGTH = 1000;

export const FieldError = Type.Object(
  {
    location: Type.String({ enum: ['body', 'querystring', 'params', 'headers'], maxLength: 20, examples: ['body'] }),
    field: Type.String({
      maxLength: MAX_FIELD_TEXT_LENGTH,
      description: 'Dotted path of the offending field; empty for the whole part',
      examples: ['username'],
    }),
    message: Type.String({ maxLength: MAX_FIELD_TEXT_LENGTH, examples: ['must NOT have fewer than 3 characters'] }),
  },
  { title: 'FieldError', additionalProperties: false },
);

/** RFC 9457 problem details; `detail` is always a string, as clients of the FastAPI service expect. */
export const Problem = Type.Object(
  {
    type: Type.String({ format: 'uri-reference', maxLength: 200, examples: ['about:blank'] }),
    title: Type.String({ maxLength: 100, examples: ['Unauthorized'] }),
    status: Type.Integer({ format: 'int32', minimum: 400, maximum: 599, examples: [401] }),
    detail: Type.String({ maxLength: MAX_DETAIL_LENGTH, examples: ['Could not validate credentials'] }),
    errors: Type.Optional(Type.Array(FieldError, { maxItems: MAX_FIELD_ERRORS })),
  },
  { $id: 'Problem', title: 'Problem' },
);

/** A 422: a problem that names each offending field (every 422 does: see sendProblem). */
export const ValidationProblem = Type.Object(
  {
    ...Problem.properties,
    title: { ...Problem.properties.title, examples: ['Unprocessable Entity'] },
    status: Type.Integer({ format: 'int32', minimum: 422, maximum: 422, examples: [422] }),
    detail: { ...Problem.properties.detail, examples: ['Validation failed: title'] },
    errors: Type.Array(FieldError, { minItems: 1, maxItems: MAX_FIELD_ERRORS }),
  },
  { $id: 'ValidationProblem', title: 'ValidationProblem' },
);

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request (for example invalid JSON)',
  401: 'Missing, invalid, expired or revoked credentials',
  403: 'Authenticated, but not allowed',
  404: 'Not found',
  409: 'Conflicts with the current state',
  412: 'If-Match does not name the current version',
  413: 'Body too large',
  415: 'Unsupported content type',
  422: 'Validation failed; `errors` names each field',
  429: 'Too many requests',
  503: 'A dependency is unavailable; retry later',
};

/** Response schemas for the error statuses a route can answer, each as problem+json. */
export function problemResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of statuses) {
    out[status] = {
      description: STATUS_DESCRIPTIONS[status] ?? 'Error',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: Type.Ref(status === 422 ? 'ValidationProblem#' : 'Problem#') } },
    } as unknown as TSchema;
  }
  return out;
}

// A Date in code, an ISO 8601 UTC string on the wire (the serializer calls toISOString).
export const Timestamp = Type.Unsafe<Date>({
  type: 'string',
  format: 'date-time',
  maxLength: 30,
  examples: ['2026-11-24T10:30:00.000Z'],
});

/** A count (of tasks, users, projects…): a non-negative 64-bit integer within JavaScript's exact range. */
export const Count = (options: { description?: string; examples?: number[] } = {}) =>
  Type.Integer({ format: 'int64', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...options });

/** A row id as the API returns it: a positive 64-bit integer within JavaScript's exact range. */
export const RowId = (examples: number[]) =>
  Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, examples });

/**
 * Text PostgreSQL can store as sent: no U+0000 (text columns cannot hold it) and no lone UTF-16
 * surrogate (it would be silently replaced). Patterns run with the `u` flag, so a paired surrogate
 * (an emoji) is one code point outside the excluded range. UNSTORABLE is that range, as a character-class body.
 */
export const UNSTORABLE = '\\u0000\\uD800-\\uDFFF';
export const SAFE_TEXT = `^[^${UNSTORABLE}]*$`;

export const IdParams = Type.Object(
  { id: Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Positive integer id' }) },
  { additionalProperties: false },
);

/** Routes that need a token: either a pasted bearer token or the docs page's OAuth2 password flow. */
export const BEARER_SECURITY: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { OAuth2PasswordBearer: [] }];

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K] & string> };

/** One of the values of an `as const` list: a union of string literals, in the list's order. */
export const OneOf = <const T extends readonly string[]>(values: T): TUnion<Literals<T>> =>
  Type.Union(values.map((value) => Type.Literal(value))) as TUnion<Literals<T>>;
