import { Type } from 'typebox';
import { Email, Password } from '../users/schemas.js';

export const PASSWORD_RESET_ACCEPTED = 'If an active account has this email, a link to reset its password is on its way';

export const PasswordResetRequestBody = Type.Object(
  { email: Email },
  { additionalProperties: false, title: 'PasswordResetRequest' },
);

/** One text whether or not an account has the address (a constant in the document too). */
export const PasswordResetAccepted = Type.Object(
  { detail: Type.Literal(PASSWORD_RESET_ACCEPTED) },
  { additionalProperties: false, title: 'PasswordResetAccepted' },
);

/**
 * The token is any string up to a bound: whatever is not a live token (junk, a spent or expired one)
 * is the same 400, as for refresh tokens.
 */
export const PasswordResetConfirmBody = Type.Object(
  {
    token: Type.String({
      maxLength: 256,
      description: 'The token from the link in the password reset mail; anything else is a 400',
      examples: ['mQ2n1v3cY8b1f0aJk9x7QeL4tS6uW2zR5pN8dH3gK0E'],
    }),
    new_password: Password,
  },
  { additionalProperties: false, title: 'PasswordResetConfirm' },
);
