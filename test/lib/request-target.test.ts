import { describe, expect, it } from 'vitest';
import { originForm } from '../../src/lib/request-target.js';

describe('originForm', () => {
  it('splits an origin-form target into path and query', () => {
    expect(originForm('/api/v1/tasks?limit=5&q=a?b')).toEqual({ path: '/api/v1/tasks', query: 'limit=5&q=a?b' });
    expect(originForm('/api/v1/tasks')).toEqual({ path: '/api/v1/tasks', query: '' });
  });

  it('drops the scheme and authority of an absolute-form target, in any case', () => {
    expect(originForm('http://evil.example/api/v1/tasks?x=1')).toEqual({ path: '/api/v1/tasks', query: 'x=1' });
    expect(originForm('HTTPS://user@evil.example:8443/a')).toEqual({ path: '/a', query: '' });
  });

  it('gives / for an absolute-form target without a path', () => {
    expect(originForm('http://evil.example')).toEqual({ path: '/', query: '' });
    expect(originForm('http://evil.example?x=1')).toEqual({ path: '/', query: 'x=1' });
  });

  it('leaves other schemes and a path that only looks like a URL alone', () => {
    expect(originForm('ftp://evil.example/a')).toEqual({ path: 'ftp://evil.example/a', query: '' });
    expect(originForm('/http://evil.example/a')).toEqual({ path: '/http://evil.example/a', query: '' });
    expect(originForm('http:///a')).toEqual({ path: 'http:///a', query: '' });
  });
});
