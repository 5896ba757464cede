import ipaddr from 'ipaddr.js';

/**
 * The client an address stands for, as rate limits count it: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address is that IPv4 address), an IPv6 address by its /`ipv6Prefix` network,
 * since one subscriber is routinely given a whole /64 and may pick any address in it.
 */
export function clientKey(ip: string, ipv6Prefix: number): string {
  if (!ipaddr.isValid(ip)) return ip;
  // process() turns ::ffff:a.b.c.d into a.b.c.d.
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${ipv6Prefix}`).toString()}/${ipv6Prefix}`;
}
