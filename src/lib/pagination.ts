import type { FastifyReply, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { AppError } from './errors.js';
import { originForm } from './request-target.js';
import { Count } from './schemas.js';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
export const DEFAULT_OFFSET = 0;

// Optional with a default: a client may leave them out (the document must not call them required).
export const paginationQuery = {
  limit: Type.Optional(
    Type.Integer({
      format: 'int32',
      minimum: 1,
      maximum: MAX_LIMIT,
      default: DEFAULT_LIMIT,
      description: 'Page size, 1 to 100',
    }),
  ),
  offset: Type.Optional(
    Type.Integer({ format: 'int32', minimum: 0, maximum: 2_147_483_647, default: DEFAULT_OFFSET, description: 'Items to skip' }),
  ),
};

/**
 * The page a list query asks for. The validator has filled in the defaults already; the static
 * types cannot know that, so they are applied here too, from the same constants.
 */
export function pageOf(query: { limit?: number; offset?: number }): { limit: number; offset: number } {
  return { limit: query.limit ?? DEFAULT_LIMIT, offset: query.offset ?? DEFAULT_OFFSET };
}

export const paginationHeaders = {
  'X-Total-Count': Count({ description: 'Items matching the filters, on all pages' }),
  // Four links, each repeating the longest valid query (a 200-character q is up to 1,800 once encoded).
  Link: Type.String({
    maxLength: 16_384,
    pattern: '^<\\/[^/>][^>]*>; rel="(first|prev|next|last)"(, <\\/[^/>][^>]*>; rel="(first|prev|next|last)")*$',
    description:
      'RFC 8288 links: first, prev, next, last (paging by cursor: first and next only); relative (path and query); each keeps the filters',
  }),
};

/** A page of a paginated list, as its 200 response: at most MAX_LIMIT items, with the paging headers; `title` names it in the document. */
export const pagedList = <T extends TSchema>(item: T, title: string) =>
  Type.Array(item, { title, maxItems: MAX_LIMIT, headers: paginationHeaders } as Record<string, unknown>);

export interface Page {
  total: number;
  limit: number;
  offset: number;
}

/**
 * The Link header for one page: URLs that repeat the request target's own query (filters, sort)
 * with only offset and limit changed. URLs are relative (path and query only), so no Host header
 * or host in an absolute-form request line reaches them.
 */
export function paginationLinks(url: string, page: Page): string {
  const { path, query } = originForm(url);
  const params = new URLSearchParams(query);
  const link = (offset: number, rel: string) => {
    params.set('limit', String(page.limit));
    params.set('offset', String(offset));
    return `<${path}?${params.toString()}>; rel="${rel}"`;
  };
  const lastOffset = page.total > 0 ? Math.floor((page.total - 1) / page.limit) * page.limit : 0;
  const links = [link(0, 'first')];
  if (page.offset > 0) links.push(link(Math.max(0, Math.min(page.offset - page.limit, lastOffset)), 'prev'));
  if (page.offset + page.limit < page.total) links.push(link(page.offset + page.limit, 'next'));
  links.push(link(lastOffset, 'last'));
  return links.join(', ');
}

/** Sets X-Total-Count and the Link header (paginationLinks) for the request's page. */
export function setPaginationHeaders(request: FastifyRequest, reply: FastifyReply, page: Page): void {
  reply.header('x-total-count', String(page.total));
  reply.header('link', paginationLinks(request.url, page));
}

/** Escapes LIKE wildcards so a search for "50%" finds the text "50%", not everything. */
export const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

/** Whether the request target itself names `offset` (the validator fills in its default either way). */
export function sendsOffset(url: string): boolean {
  return new URLSearchParams(originForm(url).query).has('offset');
}

/** A cursor together with offset: one way of paging at a time. */
export function refuseCursorWithOffset(url: string): void {
  if (sendsOffset(url)) {
    throw new AppError(422, 'Validation failed: cursor', {
      errors: [{ location: 'querystring', field: 'cursor', message: 'cursor and offset cannot be used together' }],
    });
  }
}

/**
 * Keyset paging's links: first (an empty cursor) and, when there is a next page, next (its cursor);
 * no prev or last, which a keyset cannot know without reading the pages between.
 */
export function cursorLinks(url: string, limit: number, next: string | undefined): string {
  const { path, query } = originForm(url);
  const params = new URLSearchParams(query);
  params.delete('offset');
  params.set('limit', String(limit));
  const link = (cursor: string, rel: string) => {
    params.set('cursor', cursor);
    return `<${path}?${params.toString()}>; rel="${rel}"`;
  };
  const links = [link('', 'first')];
  if (next !== undefined) links.push(link(next, 'next'));
  return links.join(', ');
}

/** X-Total-Count and the keyset Link header (cursorLinks). */
export function setCursorPaginationHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  page: { total: number; limit: number; next: string | undefined },
): void {
  reply.header('x-total-count', String(page.total));
  reply.header('link', cursorLinks(request.url, page.limit, page.next));
}
