import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { createBackgroundLoop } from '../../lib/background-loop.js';
import { retryDelay } from '../../lib/backoff.js';
import { withTimeout } from '../../lib/timeout.js';
import type { UnitOfWork } from '../events/unit-of-work.js';
import type { AttemptRecord, ClaimedDelivery, DeliveryRepository } from './delivery-repository.js';
import { webhookDisabledEvent } from './events.js';
import { signatureHeaders } from './signer.js';
import { postJson } from './ssrf/post.js';
import { checkTarget, RefusedTarget, type TargetPolicy } from './ssrf/target.js';

export interface DelivererOptions {
  deliveries: DeliveryRepository;
  unitOfWork: UnitOfWork;
  /** The delivery's webhook's signing secret, opened; throws when it cannot be (JWT_SECRET changed). */
  openSecret(delivery: ClaimedDelivery): string;
  policy: TargetPolicy;
  maxAttempts: number;
  retryBaseMs: number;
  timeoutMs: number;
  disableAfterFailures: number;
  pollIntervalMs: number;
  log: FastifyBaseLogger;
  /** DNS, for tests that give a name addresses of their own; dns.lookup by default. */
  resolve?: ((host: string) => Promise<Array<{ address: string; family: number }>>) | undefined;
}

/** Deliveries claimed per round, sent side by side (a slow receiver holds only its own). */
const BATCH = 20;
/** Bytes of a response read at most: the status is what matters. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** A retry waits 12 hours at most. */
const RETRY_MAX_MS = 12 * 60 * 60_000;
/** On close, attempts in flight are waited for this long; one not done by then is retried once its lease runs out. */
const CLOSE_WAIT_MS = 2_000;

const ok = (status: number | undefined) => status !== undefined && status >= 200 && status < 300;

/**
 * The delivery worker: claims due deliveries (FOR UPDATE SKIP LOCKED with a lease: several
 * instances may run one), checks the owner may still see each one's subject (skipped otherwise),
 * signs and sends it (ssrf/: to the checked address only, no redirects, at most WEBHOOK_TIMEOUT_MS),
 * then records the outcome: delivered on a 2xx; otherwise retried with exponential backoff and
 * jitter until WEBHOOK_MAX_ATTEMPTS, then failed. WEBHOOK_DISABLE_AFTER_FAILURES failed deliveries in
 * a row disable the webhook, with a webhook.disabled event. Log lines name deliveries by id, never a
 * secret or the URL (which may carry a token of the receiver's).
 */
export function createDeliverer(options: DelivererOptions) {
  const { deliveries, log, maxAttempts, pollIntervalMs } = options;
  const leaseMs = options.timeoutMs + 30_000;

  async function send(delivery: ClaimedDelivery): Promise<AttemptRecord> {
    const secret = options.openSecret(delivery);
    try {
      const target = await withTimeout(
        checkTarget(delivery.url, options.policy, options.resolve),
        options.timeoutMs,
        'resolving',
      );
      const headers = signatureHeaders(secret, delivery.eventId, Math.floor(Date.now() / 1000), delivery.body);
      const outcome = await postJson(target, { ...headers, 'user-agent': 'task-api-webhooks' }, delivery.body, {
        timeoutMs: options.timeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
      const error = outcome.error ?? (ok(outcome.status) ? undefined : `HTTP ${outcome.status}`);
      return { responseStatus: outcome.status, durationMs: outcome.durationMs, error };
    } catch (err) {
      return { error: err instanceof RefusedTarget ? `refused: ${err.message}` : (err as Error).message };
    }
  }

  async function giveUp(delivery: ClaimedDelivery, record: AttemptRecord): Promise<void> {
    await options.unitOfWork.run(async (work) => {
      const failures = await deliveries.gaveUp(work.db, delivery, record);
      if (failures === undefined || failures < options.disableAfterFailures) return;
      const reason = `${failures} deliveries in a row failed`;
      const disabled = await deliveries.disable(work.db, delivery.webhookId, reason);
      if (disabled) {
        await work.record(() => [webhookDisabledEvent({ id: delivery.webhookId }, disabled)]);
        log.warn({ webhook_id: delivery.webhookId, failures }, 'webhook disabled: its deliveries keep failing');
      }
    });
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const about = {
      delivery_id: delivery.id,
      webhook_id: delivery.webhookId,
      event_type: delivery.eventType,
      attempt: delivery.attempts,
    };
    if (!delivery.visible) {
      await deliveries.skipped(delivery);
      log.info(about, 'webhook delivery skipped: its owner cannot see what it is about');
      return;
    }
    let record: AttemptRecord;
    try {
      record = await send(delivery);
    } catch {
      // The secret does not open (JWT_SECRET changed since the webhook was made): no retry can help.
      record = { error: 'the signing secret cannot be opened (JWT_SECRET changed): create the webhook again' };
      await giveUp(delivery, record);
      log.error(about, 'webhook delivery failed: its signing secret cannot be opened');
      return;
    }
    if (record.error === undefined) {
      await deliveries.delivered(delivery, record);
      log.info({ ...about, status: record.responseStatus, duration_ms: record.durationMs }, 'webhook delivered');
    } else if (delivery.attempts >= maxAttempts) {
      await giveUp(delivery, record);
      log.warn({ ...about, error: record.error }, 'webhook delivery failed: every attempt failed');
    } else {
      const delay = retryDelay(delivery.attempts, options.retryBaseMs, RETRY_MAX_MS);
      await deliveries.retryLater(delivery, record, delay);
      log.info({ ...about, error: record.error, retry_in_ms: delay }, 'webhook delivery attempt failed; it will be retried');
    }
  }

  const loop = createBackgroundLoop({
    // Pause only when nothing was due: a full batch suggests more are, and a delivered one may have released the next of its task.
    async round() {
      const claimed = await deliveries.claim(BATCH, leaseMs);
      await Promise.all(claimed.map(attempt));
      return claimed.length > 0;
    },
    pollIntervalMs,
    log,
    describeError: loggable,
    messages: { failing: 'reading the webhook deliveries failed; retrying', recovered: 'webhook deliveries going again' },
    closeWaitMs: CLOSE_WAIT_MS,
  });

  return { wake: loop.wake, start: loop.start, close: loop.close };
}
