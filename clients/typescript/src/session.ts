/** A login's tokens as the client keeps them. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires (milliseconds since the epoch). */
  expiresAt: number;
}

/** Where a login's tokens live between calls: memory by default; a CLI may keep them in a file. */
export interface TokenStore {
  load(): StoredTokens | undefined;
  save(tokens: StoredTokens | undefined): void;
}

/** What the refresh route answers (the fields the client uses). */
export interface TokenPairBody {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export const storedTokens = (pair: TokenPairBody, now = Date.now()): StoredTokens => ({
  accessToken: pair.access_token,
  refreshToken: pair.refresh_token,
  expiresAt: now + pair.expires_in * 1000,
});

/**
 * The login state: its tokens, and the one refresh in flight. Refresh tokens are single use and a
 * spent one presented again ends the whole login on the server, so two refreshes must never race:
 * every caller that needs one while it runs waits for the same one.
 */
export function createSession(
  store: TokenStore | undefined,
  refreshWith: (refreshToken: string) => Promise<TokenPairBody | 'refused' | 'failed'>,
  onLoggedOut?: () => void,
) {
  let tokens = store?.load();
  let refreshing: Promise<boolean> | undefined;

  const set = (next: StoredTokens | undefined) => {
    tokens = next;
    store?.save(next);
  };

  const runRefresh = async (): Promise<boolean> => {
    const current = tokens;
    if (!current) return false;
    const outcome = await refreshWith(current.refreshToken);
    // A logout or a new login while the refresh ran wins over its answer.
    if (tokens !== current) return tokens !== undefined;
    if (outcome === 'refused') {
      set(undefined);
      onLoggedOut?.();
      return false;
    }
    if (outcome === 'failed') return false;
    set(storedTokens(outcome));
    return true;
  };

  return {
    get accessToken(): string | undefined {
      return tokens?.accessToken;
    },
    /** Within `marginMs` of expiring (or past it): worth refreshing before the next request. */
    expiring(marginMs: number, now = Date.now()): boolean {
      return tokens !== undefined && tokens.expiresAt - now <= marginMs;
    },
    set,
    /** Refreshes once for every caller waiting now; true when a (new) access token is there. */
    refresh(): Promise<boolean> {
      refreshing ??= runRefresh().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },
  };
}

export type Session = ReturnType<typeof createSession>;
