import type { FastifyRequest } from 'fastify';
import { maskedAddress } from '../../lib/client-address.js';
import type { ClientDetails } from './repository.js';

/** A session keeps at most this much of a User-Agent header (least data; real ones are far shorter). */
export const MAX_USER_AGENT_LENGTH = 512;

/**
 * Where a login or a refresh comes from, as its session keeps it. The address is request.ip (which
 * follows TRUST_PROXY), masked to its network before it is stored. Header values reach us as Latin-1
 * text, one code unit per character, so the cut never splits a character.
 */
export function clientDetails(request: Pick<FastifyRequest, 'ip' | 'headers'>): ClientDetails {
  const userAgent = request.headers['user-agent'];
  return {
    userAgent: userAgent ? userAgent.slice(0, MAX_USER_AGENT_LENGTH) : undefined,
    address: maskedAddress(request.ip),
  };
}
