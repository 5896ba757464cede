import { notFound } from '../../lib/errors.js';
import type { SessionsRepository } from './repository.js';
import { MAX_SESSIONS_LISTED, type Session } from './schemas.js';

/** Why a session ended, as revoked_reason records it (logout, a password change… write their own). */
const ENDED_BY_USER = 'user_ended';
const ENDED_AS_OTHERS = 'user_ended_others';
const ENDED_BY_LOGOUT_ALL = 'logout_all';

/** A user's own logins: the list, and ending one, the others, or all of them. */
export function createSessionsService(sessions: SessionsRepository) {
  return {
    /** The user's live sessions, most recently used first; `current`: the session of the request. */
    async list(userId: number, current: string): Promise<Session[]> {
      const rows = await sessions.listLiveSessions(userId, MAX_SESSIONS_LISTED);
      return rows.map((row) => ({ ...row, current: row.id === current }));
    },

    /** Ends one live session of the user; any other id (unknown, another user's, ended) is the same 404. */
    async end(userId: number, sessionId: string): Promise<void> {
      if (!(await sessions.revokeLiveSession(userId, sessionId, ENDED_BY_USER))) throw notFound('Session not found');
    },

    /** Ends every session of the user but `keep` (the caller's). */
    async endOthers(userId: number, keep: string): Promise<void> {
      await sessions.revokeUserSessions(userId, keep, ENDED_AS_OTHERS);
    },

    /** Ends every session of the user, `current` included. */
    async endAll(userId: number): Promise<void> {
      await sessions.revokeUserSessions(userId, undefined, ENDED_BY_LOGOUT_ALL);
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
