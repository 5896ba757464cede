import createClient, { type Client, type MaybeOptionalInit } from 'openapi-fetch';
import { IDEMPOTENT_CREATES, UNAUTHENTICATED } from './generated/operations.js';
import type { components, paths } from './generated/schema.js';
import { nextLink } from './pages.js';
import { delayBeforeRetry, type RetryOptions, retryable } from './retry.js';
import { createSession, storedTokens, type TokenPairBody, type TokenStore } from './session.js';

export { API_VERSION } from './generated/operations.js';
export type { components, paths } from './generated/schema.js';
export type { RetryOptions } from './retry.js';
export type { StoredTokens, TokenStore } from './session.js';

type Schemas = components['schemas'];
export type Task = Schemas['Task'];
export type User = Schemas['User'];
export type Project = Schemas['Project'];
export type Member = Schemas['Member'];
export type Label = Schemas['Label'];
export type Problem = Schemas['Problem'];
export type ValidationProblem = Schemas['ValidationProblem'];

export interface TaskApiOptions {
  /** Where task-api is, e.g. `https://tasks.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** A personal access token (`tap_…`): sent on every request, never refreshed. */
  accessToken?: string;
  /** Where a login's tokens are kept between calls (default: memory only). */
  tokenStore?: TokenStore;
  retry?: RetryOptions;
  /** The fetch to send with (default: the global one). */
  fetch?: (request: Request) => Promise<Response>;
  /** Called when the login has ended (its refresh was refused): log in again. */
  onLoggedOut?: () => void;
}

/** Refresh an access token this close to its expiry before using it, rather than after a 401. */
const EXPIRY_MARGIN_MS = 30_000;

/** An error thrown by the client's own helpers (login, pages): the server's problem+json, as sent. */
export class TaskApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem?.detail ?? `task-api answered ${status}`);
    this.name = 'TaskApiError';
  }
}

/** Paths of GET operations that answer a list (a page of it), and the items of each. */
type ListPath = {
  [P in keyof paths]: paths[P] extends { get: { responses: { 200: { content: { 'application/json': unknown[] } } } } }
    ? P
    : never;
}[keyof paths];
type ItemOf<P extends ListPath> = paths[P] extends {
  get: { responses: { 200: { content: { 'application/json': (infer I)[] } } } };
}
  ? I
  : never;

const sleep = (ms: number, signal: AbortSignal | null) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

async function problemOf(response: Response): Promise<Problem | undefined> {
  try {
    return (await response.json()) as Problem;
  } catch {
    return undefined;
  }
}

/**
 * The task-api client: every operation of the API, typed from its OpenAPI document (openapi-fetch's
 * `GET`, `POST`, `PUT`, `PATCH`, `DELETE`), with what a client should not have to write itself:
 * login and logout, the access token refreshed on expiry or on a 401 (one refresh at a time,
 * however many requests wait for it), an `Idempotency-Key` on every create that may be retried,
 * retries with backoff for requests that mean the same when repeated (and any 429), honouring
 * `Retry-After`, and paging through lists.
 */
export function createTaskApi(options: TaskApiOptions) {
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retry = { retries: 3, baseDelayMs: 250, maxDelayMs: 10_000, ...options.retry };
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const apiPath = (url: string) => new URL(url).pathname.slice(basePath.length);
  // The generated tables name operations as "METHOD /path"; the credential-free ones have no path parameters.
  const operationKey = (method: string, path: string) => `${method} ${path}`;

  const session = createSession(
    options.tokenStore,
    async (refreshToken) => {
      const response = await deliver(
        new Request(new URL(`${basePath}/api/v1/auth/refresh`, base), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ refresh_token: refreshToken }),
        }),
      );
      if (response.ok) return (await response.json()) as TokenPairBody;
      return response.status === 401 ? 'refused' : 'failed';
    },
    options.onLoggedOut,
  );

  const bearerFor = (request: Request): string | undefined => {
    if (UNAUTHENTICATED.has(operationKey(request.method, apiPath(request.url)))) return undefined;
    return options.accessToken ?? session.accessToken;
  };

  /**
   * Sends `request`, again when that is safe and worth it, and with a refreshed token after a 401.
   * The body is read once, so each attempt is a fresh request with the same bytes (and the same
   * Idempotency-Key).
   */
  async function deliver(request: Request): Promise<Response> {
    const method = request.method.toUpperCase();
    const body = method === 'GET' || method === 'HEAD' ? undefined : await request.arrayBuffer();
    const headers = new Headers(request.headers);
    if (method === 'POST' && IDEMPOTENT_CREATES.has(apiPath(request.url)) && !headers.has('idempotency-key')) {
      headers.set('idempotency-key', crypto.randomUUID());
    }
    const keyed = headers.has('idempotency-key');
    const refreshes = !options.accessToken && bearerFor(request) !== undefined;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (refreshes && session.expiring(EXPIRY_MARGIN_MS)) await session.refresh();
      const bearer = bearerFor(request);
      const sent = new Headers(headers);
      if (bearer) sent.set('authorization', `Bearer ${bearer}`);
      let outcome: Response | Error;
      try {
        outcome = await send(new Request(request.url, { method, headers: sent, body, signal: request.signal }));
      } catch (err) {
        if (request.signal.aborted) throw err;
        outcome = err as Error;
      }
      if (outcome instanceof Response && outcome.status === 401 && refreshes && !refreshed && bearer !== undefined) {
        refreshed = true;
        // Another request may have refreshed meanwhile: then this one only needs the new token.
        const renewed = bearer !== session.accessToken ? session.accessToken !== undefined : await session.refresh();
        if (renewed) {
          attempt--;
          continue;
        }
      }
      if (attempt < retry.retries && retryable(method, keyed, outcome)) {
        const wait = delayBeforeRetry(attempt, outcome, retry);
        if (wait !== undefined) {
          if (outcome instanceof Response) await outcome.body?.cancel();
          await sleep(wait, request.signal);
          continue;
        }
      }
      if (outcome instanceof Error) throw outcome;
      return outcome;
    }
  }

  const client: Client<paths> = createClient<paths>({ baseUrl: base.href.replace(/\/+$/, ''), fetch: deliver });

  const extras = {
    /** Logs in (username or email) and keeps the login's tokens; the account. */
    async login(username: string, password: string): Promise<User> {
      const { data, error, response } = await client.POST('/api/v1/auth/login', { body: { username, password } });
      if (!data) throw new TaskApiError(response.status, error as Problem | undefined);
      session.set(storedTokens(data));
      return data.user;
    },

    /** Ends the login on the server (on every instance) and forgets its tokens. */
    async logout(): Promise<void> {
      if (session.accessToken === undefined) return;
      try {
        const { response } = await client.POST('/api/v1/auth/logout');
        // 401: the login had ended already; either way it is over.
        if (!response.ok && response.status !== 401) throw new TaskApiError(response.status, await problemOf(response));
      } finally {
        session.set(undefined);
      }
    },

    /** Exchanges the refresh token for a new pair now (the client also does so by itself); false when the login has ended. */
    refresh: () => session.refresh(),

    /** Whether the client holds a login or an access token. */
    get authenticated(): boolean {
      return options.accessToken !== undefined || session.accessToken !== undefined;
    },

    /**
     * Every page of a list, first to last, following each page's `Link: rel="next"` (by cursor
     * where the list pages by cursor, e.g. `{ params: { query: { cursor: '' } } }`, else by offset).
     */
    async *pages<P extends ListPath>(path: P, init?: MaybeOptionalInit<paths[P], 'get'>): AsyncGenerator<ItemOf<P>[]> {
      // biome-ignore lint/suspicious/noExplicitAny: the path is one of the list paths, whose init openapi-fetch types by path.
      const first = await (client.GET as any)(path, init);
      if (first.error !== undefined || !first.response.ok) throw new TaskApiError(first.response.status, first.error);
      yield first.data as ItemOf<P>[];
      let next = nextLink(first.response.headers.get('link'));
      while (next !== undefined) {
        // Links are relative to the server's root (path and query): resolved against the base's origin and prefix.
        const response = await deliver(
          new Request(new URL(`${basePath}${next}`, base), {
            headers: { accept: 'application/json' },
            signal: init?.signal ?? null,
          }),
        );
        if (!response.ok) throw new TaskApiError(response.status, await problemOf(response));
        yield (await response.json()) as ItemOf<P>[];
        next = nextLink(response.headers.get('link'));
      }
    },

    /** Every item of a list, page after page (see `pages`). */
    async *items<P extends ListPath>(path: P, init?: MaybeOptionalInit<paths[P], 'get'>): AsyncGenerator<ItemOf<P>> {
      for await (const page of extras.pages(path, init)) yield* page;
    },
  };
  // Descriptors, not Object.assign: `authenticated` stays a getter rather than the value it had now.
  return Object.defineProperties(client, Object.getOwnPropertyDescriptors(extras)) as Client<paths> & typeof extras;
}

export type TaskApi = ReturnType<typeof createTaskApi>;
