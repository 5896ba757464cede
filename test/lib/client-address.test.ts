import { describe, expect, it } from 'vitest';
import { clientKey, maskedAddress } from '../../src/lib/client-address.js';

describe('clientKey', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(clientKey('203.0.113.7', 64)).toBe('203.0.113.7');
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(clientKey('::ffff:203.0.113.7', 64)).toBe('203.0.113.7');
    expect(clientKey('::ffff:cb00:7107', 64)).toBe('203.0.113.7');
  });

  it('counts an IPv6 address by its network of the given prefix', () => {
    expect(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64)).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:1::1', 64)).toBe(clientKey('2001:db8:1:2:ffff::', 64));
    expect(clientKey('2001:db8:1:2::1', 64)).not.toBe(clientKey('2001:db8:1:3::1', 64));
  });

  it('honours other prefixes, up to 128 (one address, one client)', () => {
    expect(clientKey('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(clientKey('2001:db8:1:2::1', 56)).toBe('2001:db8:1::/56');
    expect(clientKey('2001:db8::1', 128)).toBe('2001:db8::1/128');
    expect(clientKey('2001:db8::1', 128)).not.toBe(clientKey('2001:db8::2', 128));
  });

  it('gives one key to every spelling of an IPv6 address', () => {
    expect(clientKey('2001:DB8:0:0:0:0:0:1', 64)).toBe(clientKey('2001:db8::1', 64));
  });

  it('passes through what is not an address (a socket path)', () => {
    expect(clientKey('unix:/run/app.sock', 64)).toBe('unix:/run/app.sock');
  });
});

describe('maskedAddress (what a session keeps and shows)', () => {
  it('keeps an IPv4 address as its /24, an IPv4-mapped one too', () => {
    expect(maskedAddress('203.0.113.7')).toBe('203.0.113.0/24');
    expect(maskedAddress('::ffff:203.0.113.200')).toBe('203.0.113.0/24');
  });

  it('keeps an IPv6 address as its /48, whatever its spelling', () => {
    expect(maskedAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1::/48');
    expect(maskedAddress('2001:DB8:0001:ffff:0:0:0:1')).toBe('2001:db8:1::/48');
  });

  it('keeps nothing of what is not an address', () => {
    expect(maskedAddress('unix:/run/app.sock')).toBeUndefined();
  });
});
