import { type Static, Type } from 'typebox';
import { NewAccount, User } from '../users/schemas.js';

/** Registration takes a new account's fields, checked as create-admin checks them. */
export const RegisterBody = NewAccount;

/**
 * JSON, or the OAuth2 password flow's form (which also sends grant_type and optionally scope and
 * client credentials; task-api has no clients or scopes and ignores them).
 */
export const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 254, description: 'Username or email', examples: ['ada'] }),
    password: Type.String({ minLength: 1, maxLength: 256, examples: ['correct horse battery staple'] }),
    grant_type: Type.Optional(Type.Literal('password')),
    scope: Type.Optional(Type.String({ maxLength: 1000 })),
    client_id: Type.Optional(Type.String({ maxLength: 1000 })),
    client_secret: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { title: 'LoginRequest', additionalProperties: false },
);

/**
 * Any string up to a generous bound: whatever is not a live refresh token (empty, junk, an access token)
 * is the same 401 as an unknown one, so a client's only recovery is to log in again.
 */
export const RefreshBody = Type.Object(
  {
    refresh_token: Type.String({
      maxLength: 4096,
      description: 'The refresh token of the last login or refresh; anything else is a 401',
    }),
  },
  { title: 'RefreshRequest', additionalProperties: false },
);

const tokenFields = {
  access_token: Type.String({
    maxLength: 2048,
    pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
    description: 'JWT (HS256) for the Authorization: Bearer header',
    examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJl'],
  }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({
    format: 'int32',
    minimum: 1,
    maximum: 86_400,
    description: 'Seconds until the access token expires',
    examples: [1800],
  }),
  refresh_token: Type.String({
    maxLength: 256,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'Opaque; single use: each refresh returns a new one',
    examples: ['kq3Jd0m2Vt8xYzN4bW5oR2p5c1lQZ0t3ZHpBcW1YcE4'],
  }),
};

export const TokenPair = Type.Object(tokenFields, { title: 'TokenPair' });
export type TokenPair = Static<typeof TokenPair>;
export const LoginResponse = Type.Object({ ...tokenFields, user: User }, { title: 'LoginResponse' });
