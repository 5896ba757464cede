import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may send (README, "Integrations"; SECURITY.md, "Webhooks"): a URL checked when it
 * is registered, and its host resolved and checked again at every delivery, the connection then made
 * to the very address that was checked (see post.ts), so a DNS answer that changes between the check
 * and the connection (rebinding) changes nothing. Address classes are ipaddr.js's range names.
 */

/** Public unicast: the only class a webhook reaches by default (every other range name is refused). */
const PUBLIC_RANGES = new Set(['unicast']);
/** With WEBHOOK_ALLOW_PRIVATE_TARGETS (tests, local development): this machine and private networks too. */
const PRIVATE_RANGES = new Set(['loopback', 'private', 'uniqueLocal']);
/**
 * Cloud metadata services, refused whatever the setting. Most are link-local or unique-local already;
 * some are not (Alibaba's is carrier-grade NAT space, Azure's wireserver a public address).
 */
const METADATA_ADDRESSES = new Set(
  ['169.254.169.254', '169.254.170.2', 'fd00:ec2::254', '100.100.100.200', '168.63.129.16'].map((a) =>
    ipaddr.process(a).toNormalizedString(),
  ),
);

export const MAX_URL_LENGTH = 2000;

/** A target that may not be reached: the message says why, naming the address class, never a response. */
export class RefusedTarget extends Error {
  override name = 'RefusedTarget';
}

export interface TargetPolicy {
  /** http:// as well as https:// (outside production). */
  allowHttp: boolean;
  allowPrivate: boolean;
}

/** Why `address` may not be reached, or undefined when it may. IPv4-mapped IPv6 is judged as the IPv4 it maps. */
export function addressProblem(address: string, allowPrivate: boolean): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const parsed = ipaddr.process(address);
  if (METADATA_ADDRESSES.has(parsed.toNormalizedString())) return `${address} is a cloud metadata address`;
  const range = parsed.range();
  if (PUBLIC_RANGES.has(range) || (allowPrivate && PRIVATE_RANGES.has(range))) return undefined;
  return `${address} is a ${range} address`;
}

/** The host as an address or a name: URL.hostname writes an IPv6 literal in brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** Why `raw` cannot be a webhook's URL, or undefined. A host that is a name is only checked at delivery. */
export function urlProblem(raw: string, policy: TargetPolicy): string | undefined {
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(policy.allowHttp && url.protocol === 'http:')) {
    return policy.allowHttp ? 'must be an https:// or http:// URL' : 'must be an https:// URL';
  }
  // A password in the URL would be stored, listed and shown back: webhooks authenticate by signature.
  if (url.username !== '' || url.password !== '') return 'must not hold credentials';
  if (url.hash !== '' || raw.includes('#')) return 'must not have a fragment';
  const host = hostOf(url);
  if (host === '') return 'must name a host';
  if (ipaddr.isValid(host)) return addressProblem(host, policy.allowPrivate);
  if (host === 'localhost' || host.endsWith('.localhost')) return policy.allowPrivate ? undefined : 'must not be localhost';
  return undefined;
}

export interface CheckedTarget {
  url: URL;
  /** The address to connect to: one that was checked (every address the name has was). */
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the URL's host now (every address it has) and refuses it when ANY is refused: a name with
 * one public and one private address could otherwise be steered to the private one.
 */
export async function checkTarget(
  raw: string,
  policy: TargetPolicy,
  resolve: (host: string) => Promise<Array<{ address: string; family: number }>> = (host) =>
    lookup(host, { all: true, verbatim: true }),
): Promise<CheckedTarget> {
  const problem = urlProblem(raw, policy);
  if (problem) throw new RefusedTarget(`the URL ${problem}`);
  const url = new URL(raw);
  const host = hostOf(url);
  const addresses = ipaddr.isValid(host)
    ? [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
    : await resolve(host);
  if (addresses.length === 0) throw new RefusedTarget(`${host} has no address`);
  for (const { address } of addresses) {
    const refused = addressProblem(address, policy.allowPrivate);
    if (refused) throw new RefusedTarget(ipaddr.isValid(host) ? refused : `${host} resolves to ${refused}`);
  }
  const first = addresses[0] as { address: string; family: number };
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
