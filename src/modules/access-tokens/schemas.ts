import { type Static, Type } from 'typebox';
import { TOKEN_SCOPES } from '../../db/enums.js';
import { OneOf, RowId, SAFE_TEXT, Timestamp } from '../../lib/schemas.js';
import { DISPLAY_PREFIX_LENGTH, TOKEN_LENGTH, TOKEN_PREFIX } from './format.js';

export { TOKEN_SCOPES, type TokenScope } from '../../db/enums.js';

/** How many live tokens an account may hold at once. */
export const MAX_TOKENS_PER_USER = 50;
/** A token's lifetime in days: 1 to EXPIRES_IN_DAYS_MAX, EXPIRES_IN_DAYS_DEFAULT when not asked. No token lives for ever. */
export const EXPIRES_IN_DAYS_DEFAULT = 30;
export const EXPIRES_IN_DAYS_MAX = 365;
export const NAME_MAX = 100;

const Scope = OneOf(TOKEN_SCOPES);
const Scopes = Type.Array(Scope, {
  minItems: 1,
  maxItems: TOKEN_SCOPES.length,
  uniqueItems: true,
  description:
    'What the token may do. A `:write` scope covers the `:read` of the same resource; `admin` (admins only) reaches the admin routes ' +
    "and lets the token act with the admin role elsewhere. Without it, an admin's token acts as a user's.",
  examples: [['tasks:read', 'tasks:write']],
});
const Name = Type.String({
  minLength: 1,
  maxLength: NAME_MAX,
  pattern: SAFE_TEXT,
  description: `What the token is for; unique among the caller's tokens (1 to ${NAME_MAX} characters)`,
  examples: ['backup script'],
});

export const AccessTokenCreateBody = Type.Object(
  {
    name: Name,
    scopes: Scopes,
    expires_in_days: Type.Optional(
      Type.Integer({
        format: 'int32',
        minimum: 1,
        maximum: EXPIRES_IN_DAYS_MAX,
        default: EXPIRES_IN_DAYS_DEFAULT,
        description: `Days until the token expires: 1 to ${EXPIRES_IN_DAYS_MAX}, ${EXPIRES_IN_DAYS_DEFAULT} by default`,
      }),
    ),
  },
  { title: 'AccessTokenCreate', additionalProperties: false },
);
export type AccessTokenCreate = Static<typeof AccessTokenCreateBody>;

const tokenFields = {
  id: RowId([1]),
  name: Name,
  prefix: Type.String({
    minLength: DISPLAY_PREFIX_LENGTH,
    maxLength: DISPLAY_PREFIX_LENGTH,
    pattern: '^[A-Za-z0-9_-]+$',
    description: `The first ${DISPLAY_PREFIX_LENGTH} characters after \`${TOKEN_PREFIX}\`: enough to tell tokens apart, no secret`,
    examples: ['Xk3f9Q_a'],
  }),
  scopes: Scopes,
  created_at: Timestamp,
  last_used_at: Type.Union([Timestamp, Type.Null()], {
    description: 'When the token last authenticated a request (to the minute), or null',
  }),
  expires_at: Timestamp,
};

/** A token as its owner's list shows it: never the token itself. */
export const AccessToken = Type.Object(tokenFields, { title: 'AccessToken', additionalProperties: false });
export type AccessToken = Static<typeof AccessToken>;

/** A token just created: the only answer that carries the token. */
export const CreatedAccessToken = Type.Object(
  {
    ...tokenFields,
    token: Type.String({
      minLength: TOKEN_LENGTH,
      maxLength: TOKEN_LENGTH,
      pattern: `^${TOKEN_PREFIX}[A-Za-z0-9_-]+$`,
      description: 'The token: shown this once, stored only as a digest. Send it as `Authorization: Bearer <token>`.',
      examples: [`${TOKEN_PREFIX}Xk3f9Q_a0123456789abcdefghijklmnopqrstuvwxy`],
    }),
  },
  { title: 'CreatedAccessToken', additionalProperties: false },
);
export type CreatedAccessToken = Static<typeof CreatedAccessToken>;
