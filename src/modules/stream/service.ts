import { randomBytes } from 'node:crypto';
import type { CurrentUser } from '../sessions/current-user.js';
import type { User } from '../users/schemas.js';
import type { StreamRepository } from './repository.js';
import { type StreamTicket, TICKET_SECONDS } from './schemas.js';

/**
 * Stream tickets: 256 random bits, returned once, stored as their digest, bound to the login that
 * asked. Redeeming one spends it (one UPDATE … RETURNING: two requests with it cannot both win),
 * and gives its login only while that login is valid.
 */
export function createStreamService(deps: {
  repository: StreamRepository;
  findSessionUser(sessionId: string, userId: number): Promise<User | undefined>;
}) {
  return {
    async issueTicket(user: CurrentUser): Promise<StreamTicket> {
      const ticket = randomBytes(32).toString('base64url');
      const expiresAt = await deps.repository.issueTicket(ticket, user.id, user.sessionId, TICKET_SECONDS);
      return { ticket, expires_at: expiresAt, expires_in: TICKET_SECONDS };
    },

    /** The ticket's login, when the ticket is unspent and unexpired and the login still valid; it is spent either way. */
    async redeem(ticket: string): Promise<CurrentUser | undefined> {
      const login = await deps.repository.redeemTicket(ticket);
      if (!login) return undefined;
      const user = await deps.findSessionUser(login.sessionId, login.userId);
      return user?.is_active ? { ...user, sessionId: login.sessionId } : undefined;
    },
  };
}

export type StreamService = ReturnType<typeof createStreamService>;
