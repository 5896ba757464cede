import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { createWakeableSleep } from '../../lib/wakeable-sleep.js';
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
  let closing = false;
  let loop: Promise<void> | undefined;
  let failingSince: number | undefined;
  const { wait, wake } = createWakeableSleep(() => closing);

  async function run(): Promise<void> {
    while (!closing) {
      try {
        const { read, fanned } = await deliveries.fanOut(BATCH);
        if (fanned > 0) options.onFanned();
        if (failingSince !== undefined) {
          log.info({ failing_ms: Date.now() - failingSince }, 'webhook feed reading the outbox again');
          failingSince = undefined;
        }
        // A full batch suggests more are waiting: go again at once.
        if (read < BATCH) await wait(pollIntervalMs);
      } catch (err) {
        if (failingSince === undefined) {
          failingSince = Date.now();
          log.warn({ err: loggable(err) }, 'webhook feed failed to read the outbox; retrying');
        }
        await wait(pollIntervalMs);
      }
    }
  }

  return {
    wake,
    start(): void {
      loop ??= run();
    },
    async close(): Promise<void> {
      closing = true;
      wake();
      await loop;
    },
  };
}
