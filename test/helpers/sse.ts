import http from 'node:http';
import type { AppConfig } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface OpenedStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The problem+json text of a refusal. */
  text: string;
  events: SseEvent[];
  /** Comment lines seen (heartbeats). */
  comments: number;
  retry: number | undefined;
  /** Resolves when the server ends the stream (or the connection drops). */
  ended: Promise<void>;
  hasEnded(): boolean;
  /** The first event (from the start) that `match` accepts, waiting up to `ms` for it. */
  next(match: (event: SseEvent) => boolean, ms?: number): Promise<SseEvent>;
  close(): void;
}

/**
 * GET /api/v1/stream over node's http client, read as the SSE format says (fields per line, an
 * empty line ends an event, `:` starts a comment): what a browser's EventSource would see.
 */
export function openStream(
  baseUrl: string,
  options: { token?: string; ticket?: string; lastEventId?: string; query?: string; headers?: Record<string, string> } = {},
): Promise<OpenedStream> {
  const url = new URL('/api/v1/stream', baseUrl);
  if (options.ticket) url.searchParams.set('ticket', options.ticket);
  if (options.query) url.search += (url.search ? '&' : '?') + options.query;
  const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (res) => {
      res.setEncoding('utf8');
      let ended = false;
      let endedResolve: () => void = () => {};
      const endedPromise = new Promise<void>((r) => {
        endedResolve = r;
      });
      const stream: OpenedStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: '',
        events: [],
        comments: 0,
        retry: undefined,
        ended: endedPromise,
        hasEnded: () => ended,
        next: (match, ms = 10_000) =>
          new Promise((found, fail) => {
            const started = Date.now();
            const look = () => {
              const event = stream.events.find(match);
              if (event) return found(event);
              if (Date.now() - started > ms)
                return fail(new Error(`no such event within ${ms} ms: ${JSON.stringify(stream.events)}`));
              setTimeout(look, 10);
            };
            look();
          }),
        close: () => request.destroy(),
      };
      const finish = () => {
        ended = true;
        endedResolve();
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
      if (stream.status !== 200) {
        res.on('data', (chunk: string) => {
          stream.text += chunk;
        });
        res.on('end', () => resolve(stream));
        return;
      }
      let buffer = '';
      let current: Partial<SseEvent> & { data?: string } = {};
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            if (current.data !== undefined) {
              stream.events.push({ id: current.id, event: current.event ?? 'message', data: current.data });
            }
            current = {};
          } else if (line.startsWith(':')) {
            stream.comments += 1;
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
            else if (field === 'id') current.id = value;
            else if (field === 'event') current.event = value;
            else if (field === 'retry') stream.retry = Number(value);
          }
          newline = buffer.indexOf('\n');
        }
      });
      resolve(stream);
    });
    request.on('error', reject);
  });
}

/** The stream's settings with short heartbeats and re-checks, for tests; `changes` on top. */
export function fastStream(changes: Partial<AppConfig['stream']> = {}): AppConfig['stream'] {
  return { ...loadConfig({ NODE_ENV: 'test' }).stream, pollIntervalMs: 200, heartbeatMs: 200, recheckMs: 1_000, ...changes };
}
