import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMIT, DEFAULT_OFFSET, likePattern, pageOf, paginationLinks } from '../../src/lib/pagination.js';

/** The Link header as rel → URL. */
function rels(header: string): Record<string, string> {
  return Object.fromEntries(
    header.split(', ').map((part) => {
      const match = /^<([^>]*)>; rel="(\w+)"$/.exec(part);
      if (!match) throw new Error(`not a link: ${part}`);
      return [match[2], match[1]];
    }),
  );
}

describe('paginationLinks', () => {
  it('on a middle page: first, prev, next and last', () => {
    expect(rels(paginationLinks('/api/v1/tasks?limit=10&offset=20', { total: 45, limit: 10, offset: 20 }))).toEqual({
      first: '/api/v1/tasks?limit=10&offset=0',
      prev: '/api/v1/tasks?limit=10&offset=10',
      next: '/api/v1/tasks?limit=10&offset=30',
      last: '/api/v1/tasks?limit=10&offset=40',
    });
  });

  it('lists the links in the order first, prev, next, last', () => {
    const header = paginationLinks('/t', { total: 45, limit: 10, offset: 20 });
    expect(Object.keys(rels(header))).toEqual(['first', 'prev', 'next', 'last']);
  });

  it('on the first page: no prev; on the last page: no next', () => {
    expect(Object.keys(rels(paginationLinks('/t', { total: 45, limit: 10, offset: 0 })))).toEqual(['first', 'next', 'last']);
    expect(Object.keys(rels(paginationLinks('/t', { total: 45, limit: 10, offset: 40 })))).toEqual(['first', 'prev', 'last']);
  });

  it('with nothing found: first and last at offset 0', () => {
    expect(rels(paginationLinks('/t', { total: 0, limit: 10, offset: 0 }))).toEqual({
      first: '/t?limit=10&offset=0',
      last: '/t?limit=10&offset=0',
    });
  });

  it('last is the start of the last full or partial page (an exact multiple has no empty page)', () => {
    expect(rels(paginationLinks('/t', { total: 40, limit: 10, offset: 0 })).last).toBe('/t?limit=10&offset=30');
    expect(rels(paginationLinks('/t', { total: 41, limit: 10, offset: 0 })).last).toBe('/t?limit=10&offset=40');
  });

  it('prev from past the end points at the last page, and from a ragged offset never below 0', () => {
    expect(rels(paginationLinks('/t', { total: 45, limit: 10, offset: 100 })).prev).toBe('/t?limit=10&offset=40');
    expect(rels(paginationLinks('/t', { total: 45, limit: 10, offset: 5 })).prev).toBe('/t?limit=10&offset=0');
  });

  it('keeps the other parameters (filters, sort, encoded text) and replaces only limit and offset', () => {
    const links = rels(
      paginationLinks('/api/v1/tasks?status=done&q=a%20b%26c&offset=10&sort=-id', { total: 30, limit: 10, offset: 10 }),
    );
    expect(links.next).toBe('/api/v1/tasks?status=done&q=a+b%26c&offset=20&sort=-id&limit=10');
    expect(new URLSearchParams(links.next?.split('?')[1]).get('q')).toBe('a b&c');
  });

  it('is relative even for an absolute-form request target', () => {
    const links = rels(paginationLinks('http://evil.example/api/v1/tasks?limit=5', { total: 12, limit: 5, offset: 0 }));
    expect(links.first).toBe('/api/v1/tasks?limit=5&offset=0');
    expect(Object.values(links).every((url) => url.startsWith('/api/v1/tasks?'))).toBe(true);
  });
});

describe('pageOf', () => {
  it('applies the defaults to what is missing', () => {
    expect(pageOf({})).toEqual({ limit: DEFAULT_LIMIT, offset: DEFAULT_OFFSET });
    expect(pageOf({ limit: 5, offset: 15 })).toEqual({ limit: 5, offset: 15 });
  });
});

describe('likePattern', () => {
  it('escapes the LIKE wildcards and the escape character', () => {
    expect(likePattern('50%')).toBe('%50\\%%');
    expect(likePattern('a_b\\c')).toBe('%a\\_b\\\\c%');
    expect(likePattern('plain')).toBe('%plain%');
  });
});
