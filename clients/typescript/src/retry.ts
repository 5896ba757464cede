/** When and how long to wait before sending a request again. */
export interface RetryOptions {
  /** Attempts after the first (default 3). */
  retries?: number;
  /** The first wait; each next one doubles, with full jitter (default 250 ms). */
  baseDelayMs?: number;
  /** No single wait is longer; a Retry-After beyond it is not waited for (default 10 s). */
  maxDelayMs?: number;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Whether a failed attempt may be sent again. A 429 was refused before anything happened, so any
 * request may be retried; a 503 or a lost connection may have happened after the change, so only a
 * request that means the same when repeated: an idempotent method, or a create carrying an
 * Idempotency-Key (the server replays the first answer).
 */
export function retryable(method: string, hasIdempotencyKey: boolean, outcome: Response | Error): boolean {
  if (outcome instanceof Response) {
    if (outcome.status === 429) return true;
    if (outcome.status !== 503) return false;
  }
  return SAFE_METHODS.has(method) || hasIdempotencyKey;
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3), as milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before retry number `attempt` (0 for the first retry): the server's Retry-After when it
 * sent one, else exponential backoff with full jitter. Undefined: do not retry (the server asks for
 * longer than the client will wait).
 */
export function delayBeforeRetry(
  attempt: number,
  outcome: Response | Error,
  options: Required<RetryOptions>,
): number | undefined {
  const asked = outcome instanceof Response ? retryAfterMs(outcome.headers.get('retry-after')) : undefined;
  if (asked !== undefined) return asked <= options.maxDelayMs ? asked : undefined;
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  return Math.random() * ceiling;
}
