import { Type } from 'typebox';

/** Any string up to a bound: whatever is not a live token is the same 400. */
export const VerifyEmailBody = Type.Object(
  {
    token: Type.String({
      maxLength: 256,
      description: 'The token from the link in the verification mail; anything else is a 400',
      examples: ['mQ2n1v3cY8b1f0aJk9x7QeL4tS6uW2zR5pN8dH3gK0E'],
    }),
  },
  { additionalProperties: false, title: 'VerifyEmail' },
);

export const VERIFICATION_SENT = 'A new verification link is on its way to your email';

export const VerificationSent = Type.Object(
  { detail: Type.Literal(VERIFICATION_SENT) },
  { additionalProperties: false, title: 'VerificationSent' },
);
