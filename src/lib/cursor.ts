import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { Type } from 'typebox';
import { AppError } from './errors.js';

/** Longest cursor accepted: a title-sorted cursor (200 characters, UTF-8) and its MAC fit with room to spare. */
export const CURSOR_MAX_LENGTH = 1024;
const MAC_BYTES = 16;
const VERSION = 1;

export const cursorQuery = {
  cursor: Type.Optional(
    Type.String({
      maxLength: CURSOR_MAX_LENGTH,
      // One class, one quantifier: linear.
      pattern: '^[A-Za-z0-9_-]*$',
      description:
        'Keyset paging: the opaque cursor of the page to read, as the previous page\'s `Link rel="next"` gives it; ' +
        'empty (`cursor=`) for the first page. Valid only with the sort and filters it was made for; not with offset.',
      examples: ['eyJ2IjoxfQ'],
    }),
  ),
};

/** Where a page ends: the last row's sort value (as text, exact) and id, under one sort. */
export interface CursorPosition {
  sort: string;
  descending: boolean;
  value: string | number | null;
  id: number;
}

const refused = (message: string) =>
  new AppError(422, `Invalid cursor: ${message}`, { errors: [{ location: 'querystring', field: 'cursor', message }] });

/** A short digest of a list's filters (canonical JSON): a cursor is valid only for the filters it was made for. */
const filtersDigest = (filters: Record<string, unknown>): string => {
  const canonical = JSON.stringify(filters, Object.keys(filters).sort());
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
};

/**
 * Cursors for one list (`list` names it, so one list's cursor is not another's): base64url of a small
 * JSON (version, sort, direction, the last row's value and id, the filters' digest) and a MAC of it
 * under a key derived from the server's secret (HKDF; the secret itself is never used as the key).
 */
export function createCursors(secret: string, list: string) {
  const key = Buffer.from(hkdfSync('sha256', secret, 'task-api', `list cursor v${VERSION}`, 32));
  const mac = (payload: Buffer) =>
    createHmac('sha256', key).update(list).update('\0').update(payload).digest().subarray(0, MAC_BYTES);

  return {
    encode(position: CursorPosition, filters: Record<string, unknown>): string {
      const payload = Buffer.from(
        JSON.stringify({
          v: VERSION,
          s: position.sort,
          d: position.descending ? 1 : 0,
          k: position.value,
          i: position.id,
          f: filtersDigest(filters),
        }),
      );
      return Buffer.concat([payload, mac(payload)]).toString('base64url');
    },

    /**
     * The position a cursor names, for this sort and these filters; anything else is a 422. The
     * validator has checked the alphabet and length (linear); here a fixed amount of work per byte.
     */
    decode(text: string, sort: string, descending: boolean, filters: Record<string, unknown>): CursorPosition {
      if (text.length > CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
        throw refused('not a cursor this server made (malformed)');
      }
      const bytes = Buffer.from(text, 'base64url');
      if (bytes.length <= MAC_BYTES || bytes.toString('base64url') !== text)
        throw refused('not a cursor this server made (malformed)');
      const payload = bytes.subarray(0, bytes.length - MAC_BYTES);
      if (!timingSafeEqual(bytes.subarray(bytes.length - MAC_BYTES), mac(payload))) {
        throw refused('not a cursor this server made for this list (altered, or made with another key)');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload.toString('utf8'));
      } catch {
        throw refused('not a cursor this server made (malformed)');
      }
      const c = parsed as { v?: unknown; s?: unknown; d?: unknown; k?: unknown; i?: unknown; f?: unknown };
      const valueOk = c.k === null || typeof c.k === 'string' || typeof c.k === 'number';
      if (c.v !== VERSION || typeof c.s !== 'string' || !valueOk || !Number.isSafeInteger(c.i) || typeof c.f !== 'string') {
        throw refused('made by another version of this server; start again from the first page');
      }
      if (c.s !== sort || c.d !== (descending ? 1 : 0)) {
        throw refused(`made for another sort (${c.d === 1 ? '-' : ''}${c.s}); send the sort it was made for or start again`);
      }
      if (c.f !== filtersDigest(filters))
        throw refused('made for other filters; send the filters it was made for or start again');
      return { sort, descending, value: c.k as CursorPosition['value'], id: c.i as number };
    },
  };
}

export type Cursors = ReturnType<typeof createCursors>;
