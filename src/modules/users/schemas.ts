import { type Static, Type } from 'typebox';
import { ROLES } from '../../db/enums.js';
import { cursorQuery } from '../../lib/cursor.js';
import { paginationQuery } from '../../lib/pagination.js';
import { OneOf, RowId, SAFE_TEXT, Timestamp } from '../../lib/schemas.js';

export { ROLES, type Role } from '../../db/enums.js';

export const User = Type.Object(
  {
    id: RowId([1]),
    username: Type.String({ maxLength: 50, pattern: '^[A-Za-z0-9_.-]+$', examples: ['ada'] }),
    email: Type.String({ format: 'email', maxLength: 254, examples: ['ada@example.com'] }),
    role: OneOf(ROLES),
    is_active: Type.Boolean(),
    email_verified: Type.Boolean({ description: 'Whether the current email was confirmed through the link mailed to it' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'User', additionalProperties: false },
);
export type User = Static<typeof User>;

export const Username = Type.String({
  minLength: 3,
  maxLength: 50,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: '3 to 50 of A-Z a-z 0-9 _ . -; unique regardless of case',
  examples: ['ada'],
});
export const Email = Type.String({
  format: 'email',
  maxLength: 254,
  description: 'Unique regardless of case; stored lower-case',
  examples: ['ada@example.com'],
});
export const Password = Type.String({
  minLength: 8,
  maxLength: 256,
  pattern: SAFE_TEXT,
  description: '8 to 256 characters, any Unicode except NUL, compared exactly (every character counts)',
  examples: ['correct horse battery staple'],
});

/** A new account's fields, as registration and create-admin (FIRST_ADMIN_*) check them. */
export const NewAccount = Type.Object(
  { username: Username, email: Email, password: Password },
  { title: 'Registration', additionalProperties: false },
);
export type NewAccount = Static<typeof NewAccount>;

export const UserListQuery = Type.Object(
  {
    role: Type.Optional({ ...OneOf(ROLES), examples: ['admin'] }),
    is_active: Type.Optional(Type.Boolean({ examples: [true] })),
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, pattern: SAFE_TEXT, description: 'Text in the username or email' }),
    ),
    ...paginationQuery,
    ...cursorQuery,
  },
  { additionalProperties: false },
);
export type UserListQuery = Static<typeof UserListQuery>;

export const UserAdminUpdate = Type.Object(
  {
    role: Type.Optional({ ...OneOf(ROLES), examples: ['admin'] }),
    is_active: Type.Optional(Type.Boolean({ examples: [true] })),
  },
  { title: 'UserAdminUpdate', additionalProperties: false, minProperties: 1 },
);
export type UserAdminUpdate = Static<typeof UserAdminUpdate>;

export const UserSelfUpdate = Type.Object(
  {
    email: Type.Optional(Email),
    password: Type.Optional(Password),
    current_password: Type.String({ minLength: 1, maxLength: 256, description: 'Required for any change' }),
  },
  { title: 'UserSelfUpdate', additionalProperties: false },
);
export type UserSelfUpdate = Static<typeof UserSelfUpdate>;
