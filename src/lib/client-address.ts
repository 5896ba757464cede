import ipaddr from 'ipaddr.js';

/** The networks a session list shows instead of an address: enough to recognise a place, not a household. */
export const SHOWN_IPV4_PREFIX = 24;
export const SHOWN_IPV6_PREFIX = 48;

/** An address as IPv4 or IPv6; process() turns an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into a.b.c.d. */
const parsed = (ip: string) => (ipaddr.isValid(ip) ? ipaddr.process(ip) : undefined);

/** The network of `prefix` bits around an address, as CIDR text (`203.0.113.0/24`, `2001:db8:1::/48`). */
function networkOf(address: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): string {
  const cidr = `${address.toString()}/${prefix}`;
  const network = address.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${network.toString()}/${prefix}`;
}

/**
 * The client an address stands for, as rate limits count it: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address is that IPv4 address), an IPv6 address by its /`ipv6Prefix` network,
 * since one subscriber is routinely given a whole /64 and may pick any address in it.
 */
export function clientKey(ip: string, ipv6Prefix: number): string {
  const address = parsed(ip);
  if (!address) return ip;
  return address.kind() === 'ipv4' ? address.toString() : networkOf(address, ipv6Prefix);
}

/**
 * An address masked for keeping and showing (a session's "where"): its IPv4 /24 or IPv6 /48
 * network, never the address itself; undefined for what is not an IP address (a socket path).
 */
export function maskedAddress(ip: string): string | undefined {
  const address = parsed(ip);
  if (!address) return undefined;
  return networkOf(address, address.kind() === 'ipv4' ? SHOWN_IPV4_PREFIX : SHOWN_IPV6_PREFIX);
}
