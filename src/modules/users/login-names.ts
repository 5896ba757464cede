import { createAjv } from '../../lib/ajv.js';
import { Email, Username } from './schemas.js';

// The very schemas registration validates with, compiled by the same validator set-up.
const ajv = createAjv({ coerceTypes: false });
const isUsername = ajv.compile(Username);
const isEmail = ajv.compile(Email);

/**
 * Lower-cases A-Z only. JavaScript's toLowerCase and PostgreSQL's lower() also fold non-ASCII
 * letters onto ASCII ones (the Kelvin sign to k, İ to i plus a combining dot), which would let a
 * name registration refuses stand for one it accepted.
 */
const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

/** How an email is stored (and so compared): lower-cased. Registration accepts ASCII emails only. */
export const storedEmail = (email: string) => email.toLowerCase();

export type LoginName = { username: string } | { email: string };

/**
 * What a login names, folded exactly as registration folds it: a valid username (compared
 * regardless of ASCII case, as the unique index on lower(username) does for the ASCII names it
 * holds) or a valid email (as stored). Anything registration would refuse names no account.
 */
export function loginName(login: string): LoginName | undefined {
  if (isUsername(login)) return { username: asciiLower(login) };
  if (isEmail(login)) return { email: storedEmail(login) };
  return undefined;
}

/** One key per name that could be an account, for counting attempts: the folded name, or the text as sent. */
export function loginKey(login: string): string {
  const name = loginName(login);
  if (!name) return `raw:${login}`;
  return 'username' in name ? `username:${name.username}` : `email:${name.email}`;
}
