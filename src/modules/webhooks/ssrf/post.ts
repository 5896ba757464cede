import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedTarget } from './target.js';

/** What an attempt came to: the response's status, or why there was none; and how long it took. */
export interface PostOutcome {
  status?: number | undefined;
  error?: string | undefined;
  durationMs: number;
}

export interface PostLimits {
  /** The whole attempt, connection to the last byte read. */
  timeoutMs: number;
  /** Bytes of the response read at most: the rest is not waited for (the connection is closed). */
  maxResponseBytes: number;
}

/**
 * Hands the connection the checked address instead of asking DNS again (Node calls `lookup` for a
 * host that is a name; with autoSelectFamily it asks for `all`). The URL keeps its host name, so TLS
 * (SNI, the certificate's check) and the Host header are the name's.
 */
const pinned =
  (address: string, family: 4 | 6): LookupFunction =>
  (_host, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };

/**
 * POSTs `body` to the checked target. Redirects are not followed (a 3xx is a status like any other);
 * never throws: a refused connection, a timeout or a reset is the outcome's `error` (a code, never
 * the response's text).
 */
export function postJson(
  target: CheckedTarget,
  headers: Record<string, string>,
  body: string,
  limits: PostLimits,
): Promise<PostOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Omit<PostOutcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, durationMs: elapsed() });
    };
    const client = target.url.protocol === 'https:' ? https : http;
    const request = client.request(target.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      lookup: pinned(target.address, target.family),
      // A connection of its own, closed after the attempt: no pooled socket to an address checked earlier.
      agent: false,
    });
    const timer = setTimeout(() => {
      settle({ error: `timed out after ${limits.timeoutMs} ms` });
      request.destroy();
    }, limits.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? err.name }));
    request.on('response', (response) => {
      let read = 0;
      const done = () => {
        settle({ status: response.statusCode });
        response.destroy();
      };
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= limits.maxResponseBytes) done();
      });
      response.on('end', done);
      response.on('error', done);
    });
    request.end(body);
  });
}
