import { createListener } from '../../db/listener.js';
import type { User } from '../users/schemas.js';

export const AUTH_CHANNEL = 'task_api_auth';

interface Entry {
  user: User;
  expires: number;
}

export interface SessionCacheOptions {
  connectionString: string;
  ttlMs: number;
  maxEntries: number;
  log: { warn(obj: object, msg: string): void; info(msg: string): void };
}

/**
 * Remembers which active user a login (session id) belongs to, so most authenticated requests need
 * no database round trip for it. Never stale beyond the moment of commit: PostgreSQL announces every
 * change to users and sessions (migration 0007) on a channel this cache LISTENs to, on every instance.
 * While that connection is down, nothing is served from the cache (and it is emptied), so a missed
 * announcement can never leave a revoked login usable. Entries also expire after `ttlMs`.
 */
export function createSessionCache(options: SessionCacheOptions) {
  const entries = new Map<string, Entry>();
  const sessionsOfUser = new Map<number, Set<string>>();
  let listening = false;
  // Bumped on every eviction: a lookup that raced with a change is not cached.
  let generation = 0;

  const clear = () => {
    generation++;
    entries.clear();
    sessionsOfUser.clear();
  };

  const evictSession = (sessionId: string) => {
    generation++;
    const entry = entries.get(sessionId);
    if (!entry) return;
    entries.delete(sessionId);
    sessionsOfUser.get(entry.user.id)?.delete(sessionId);
  };

  const evictUser = (userId: number) => {
    generation++;
    for (const sessionId of sessionsOfUser.get(userId) ?? []) entries.delete(sessionId);
    sessionsOfUser.delete(userId);
  };

  const listener = createListener({
    connectionString: options.connectionString,
    applicationName: 'task-api-auth-listener',
    channels: [AUTH_CHANNEL],
    onNotification(_channel, payload) {
      if (payload.startsWith('s:')) evictSession(payload.slice(2));
      else if (payload.startsWith('u:')) evictUser(Number(payload.slice(2)));
      else clear();
    },
    onListening() {
      // Anything cached before (re)connecting may have missed an announcement.
      clear();
      listening = true;
    },
    onLost() {
      listening = false;
      clear();
    },
    lostMessage: 'auth change listener lost: checking every request in the database until it is back',
    log: options.log,
  });

  return {
    start: listener.start,

    /** A snapshot of the generation, taken before a database lookup. */
    generation: () => generation,

    get(sessionId: string, userId: number): User | undefined {
      if (!listening) return undefined;
      const entry = entries.get(sessionId);
      if (!entry) return undefined;
      if (entry.expires <= Date.now() || entry.user.id !== userId) {
        evictSession(sessionId);
        return undefined;
      }
      return entry.user;
    },

    /** Caches a lookup's result, unless any change was announced since `since` (the lookup may predate it). */
    set(sessionId: string, user: User, since: number): void {
      if (!listening || since !== generation) return;
      if (entries.size >= options.maxEntries) clear();
      entries.set(sessionId, { user, expires: Date.now() + options.ttlMs });
      let sessions = sessionsOfUser.get(user.id);
      if (!sessions) {
        sessions = new Set();
        sessionsOfUser.set(user.id, sessions);
      }
      sessions.add(sessionId);
    },

    async close(): Promise<void> {
      listening = false;
      clear();
      await listener.close();
    },
  };
}

export type SessionCache = ReturnType<typeof createSessionCache>;
