import { createHash, randomBytes } from 'node:crypto';
import type { TokenScope } from '../../db/enums.js';

/** What starts every personal access token: it tells a token from a JWT (which has dots) at a glance. */
export const TOKEN_PREFIX = 'tap_';
/** How many characters after the prefix a token's owner is shown, to tell their tokens apart. */
export const DISPLAY_PREFIX_LENGTH = 8;

// 256 random bits in base64url (no padding): 43 characters.
const SECRET_BYTES = 32;
const SECRET_LENGTH = Math.ceil((SECRET_BYTES * 8) / 6);
/** A token's length: the prefix and the secret. */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + SECRET_LENGTH;
const WELL_FORMED = new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{${SECRET_LENGTH}}$`);

const digest = (token: string) => createHash('sha256').update(token).digest();

/** A new token: what its owner is shown once, the digest that is stored, and its display prefix. */
export function newPersonalAccessToken(): { token: string; hash: Buffer; prefix: string } {
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const token = `${TOKEN_PREFIX}${secret}`;
  return { token, hash: digest(token), prefix: secret.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** Whether a bearer credential claims to be a personal access token (well formed or not). */
export const isPersonalAccessToken = (credential: string) => credential.startsWith(TOKEN_PREFIX);

/**
 * The digest to look a presented token up by, or undefined when it cannot be one we issued (wrong
 * length or characters): checked before hashing, in time linear in the header, bounded by its size.
 */
export const presentedTokenHash = (credential: string): Buffer | undefined =>
  credential.length === TOKEN_LENGTH && WELL_FORMED.test(credential) ? digest(credential) : undefined;

/** The scope a `:write` scope also covers (its resource's `:read`). */
const READ_OF_WRITE = /^(\w+):write$/;

/** Whether tokens granted `granted` may use a route that needs `needed`: the scope itself, or the write of a read. */
export function covers(granted: readonly TokenScope[], needed: TokenScope): boolean {
  return granted.some((scope) => scope === needed || scope.replace(READ_OF_WRITE, '$1:read') === needed);
}
