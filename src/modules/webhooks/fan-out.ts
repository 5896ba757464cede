import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { createBackgroundLoop } from '../../lib/background-loop.js';
import type { DeliveryRepository } from './delivery-repository.js';

/** Outbox rows read per round. */
const BATCH = 500;

/**
 * The fan-out worker: turns the outbox, in commit order, into deliveries (delivery-repository.ts,
 * fanOut). Every instance runs one; the feed's cursor row is locked per round, so one round at a time
 * moves it. Woken after this instance's commits (the unit of work) and every `pollIntervalMs`; wakes
 * the delivery worker when it made deliveries.
 */
export function createFanOut(options: {
  deliveries: DeliveryRepository;
  pollIntervalMs: number;
  log: FastifyBaseLogger;
  onFanned(): void;
}) {
  const { deliveries, pollIntervalMs, log } = options;
  const loop = createBackgroundLoop({
    async round() {
      const { read, fanned } = await deliveries.fanOut(BATCH);
      if (fanned > 0) options.onFanned();
      // A full batch suggests more are waiting: go again at once.
      return read === BATCH;
    },
    pollIntervalMs,
    log,
    describeError: loggable,
    messages: { failing: 'webhook feed failed to read the outbox; retrying', recovered: 'webhook feed reading the outbox again' },
  });
  return { wake: loop.wake, start: loop.start, close: loop.close };
}
