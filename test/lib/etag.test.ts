import { describe, expect, it } from 'vitest';
import { contentEtag, expectedVersion, noneMatch, taskEtag } from '../../src/lib/etag.js';

describe('taskEtag', () => {
  it('is a strong tag of the id and version', () => {
    expect(taskEtag({ id: 7, version: 3 })).toBe('"7.3"');
  });
});

describe('contentEtag', () => {
  it('hashes the parts as if joined, so the split does not change the tag', () => {
    expect(contentEtag('ab', Buffer.from('c'))).toBe(contentEtag('abc'));
    expect(contentEtag('abc')).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });

  it('changes with the bytes', () => {
    expect(contentEtag('abc')).not.toBe(contentEtag('abd'));
  });
});

describe('expectedVersion (If-Match, strong comparison)', () => {
  it('is undefined without the header and "any" for *', () => {
    expect(expectedVersion(undefined, 1)).toBeUndefined();
    expect(expectedVersion(' * ', 1)).toBe('any');
  });

  it('reads the version of the tag naming this task, among several', () => {
    expect(expectedVersion('"7.3"', 7)).toBe(3);
    expect(expectedVersion('"8.1", "7.4"', 7)).toBe(4);
  });

  it('is -1 when no tag names this task or a tag is weak or malformed', () => {
    expect(expectedVersion('"8.1"', 7)).toBe(-1);
    expect(expectedVersion('W/"7.3"', 7)).toBe(-1);
    expect(expectedVersion('7.3', 7)).toBe(-1);
    expect(expectedVersion('"7.x"', 7)).toBe(-1);
    expect(expectedVersion('', 7)).toBe(-1);
  });

  it('is -1 for a version no 4-byte integer holds', () => {
    expect(expectedVersion('"7.2147483647"', 7)).toBe(2_147_483_647);
    expect(expectedVersion('"7.2147483648"', 7)).toBe(-1);
    expect(expectedVersion('"7.12345678901"', 7)).toBe(-1);
  });
});

describe('noneMatch (If-None-Match, weak comparison)', () => {
  it('is false without the header', () => {
    expect(noneMatch(undefined, '"a"')).toBe(false);
  });

  it('matches *, the same tag, or the same tag weak on either side', () => {
    expect(noneMatch('*', '"a"')).toBe(true);
    expect(noneMatch('"a"', '"a"')).toBe(true);
    expect(noneMatch('W/"a"', '"a"')).toBe(true);
    expect(noneMatch('"a"', 'W/"a"')).toBe(true);
    expect(noneMatch('"b", W/"a"', '"a"')).toBe(true);
  });

  it('does not match other tags', () => {
    expect(noneMatch('"b", "c"', '"a"')).toBe(false);
    expect(noneMatch('"a', '"a"')).toBe(false);
  });
});
