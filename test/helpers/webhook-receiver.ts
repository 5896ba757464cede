import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { AppConfig } from '../../src/config.js';

/** A request as the receiver got it: headers and the body's bytes as text. */
export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** When it arrived (Date.now()). */
  at: number;
  /** Of a reply with `bytes`: how many the client took before the connection closed (all of them: `bytes`). */
  bytesTaken?: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 48);

/** Writes `bytes` as the client reads them (backpressure); records how many it took if it hangs up first. */
function writeBytes(res: http.ServerResponse, bytes: number, request: Received): void {
  let left = bytes;
  res.on('close', () => {
    request.bytesTaken = bytes - left;
  });
  const more = () => {
    while (left > 0 && !res.destroyed) {
      const piece = CHUNK.subarray(0, Math.min(CHUNK.length, left));
      left -= piece.length;
      if (!res.write(piece)) return void res.once('drain', more);
    }
    if (left === 0) res.end();
  };
  more();
}

/** What the receiver answers a request with (default: 204 at once). */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** Bytes of body to send (zeros). */
  bytes?: number;
  /** Wait this long before answering. */
  delayMs?: number;
}

/**
 * A webhook receiver in the test process (node:http on 127.0.0.1): records every request and
 * answers as `reply` says, which a test may change at any time (an outage, a redirect, a slow answer).
 */
export async function startReceiver() {
  const received: Received[] = [];
  let reply: (request: Received) => Reply = () => ({});
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(request);
      const answer = reply(request);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status ?? 204, answer.headers);
        if (answer.bytes) writeBytes(res, answer.bytes, request);
        else res.end();
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    port,
    received,
    /** The requests to `path`. */
    at: (path: string) => received.filter((r) => r.path === path),
    answer(next: (request: Received) => Reply) {
      reply = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Webhooks on, with fast retries and polls, reaching receivers on 127.0.0.1. */
export function fastWebhooks(changes: Partial<AppConfig['webhooks']> = {}): AppConfig['webhooks'] {
  return {
    enabled: true,
    maxAttempts: 3,
    retryBaseMs: 40,
    timeoutMs: 2_000,
    disableAfterFailures: 2,
    pollIntervalMs: 25,
    allowPrivateTargets: true,
    ...changes,
  };
}

/** Polls `check` until it holds (it returns true or a defined value), or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
