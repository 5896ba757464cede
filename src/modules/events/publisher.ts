import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type ChannelModel, type ConfirmChannel, type RecoveringChannelModel } from 'amqplib';
import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { withTimeout } from '../../lib/timeout.js';
import { createWakeableSleep } from '../../lib/wakeable-sleep.js';
import type { OutboxRepository, OutboxRow } from './repository.js';

export interface PublisherOptions {
  url: string;
  exchange: string;
  batchSize: number;
  pollIntervalMs: number;
  outbox: OutboxRepository;
  log: FastifyBaseLogger;
  onPublished?: (count: number) => void;
  onFailure?: () => void;
}

/** A broker that takes longer than this to confirm a batch is treated as failing; the batch is retried. */
const CONFIRM_TIMEOUT_MS = 15_000;
const RETRY_MIN_MS = 250;
/**
 * After a round that emptied the outbox, the next one waits this long past its wake, so that one
 * round carries the events of those milliseconds: under a stream of writes, a round per few events
 * costs more (in PostgreSQL and RabbitMQ) than the events themselves. Delivery waits as long at most.
 */
const LINGER_MS = 10;
const RETRY_MAX_MS = 30_000;

/**
 * Publishes the outbox to RabbitMQ: claims a batch (repository.claim), publishes it on a confirm
 * channel in id order, waits for the broker's confirms, then lets the claim mark the rows sent.
 * Runs until closed; connection loss is retried with backoff (amqplib's recovery) and logged once
 * per outage. Writes in this process wake it at once; other instances' writes are found by polling.
 */
export function createPublisher(options: PublisherOptions) {
  const { exchange, batchSize, pollIntervalMs, outbox, log } = options;
  let connection: RecoveringChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  let closing = false;
  let loop: Promise<void> | undefined;
  /** When the broker became unreachable (undefined: reachable, or never tried). */
  let outageSince: number | undefined;
  let failingSince: number | undefined;
  let failures = 0;

  // Wakes the loop early: a pending wake is kept, so one that comes while a batch is in flight is not lost.
  const { wait, wake } = createWakeableSleep(() => closing);

  const brokerDown = (err: Error) => {
    channel = undefined;
    if (outageSince !== undefined || closing) return;
    outageSince = Date.now();
    log.warn({ err: { message: err.message } }, 'RabbitMQ unreachable: events wait in the outbox; reconnecting with backoff');
  };

  async function openChannel(model: ChannelModel): Promise<void> {
    const opened = await model.createConfirmChannel();
    opened.on('error', () => {}); // the 'close' that follows is what matters
    opened.on('close', () => {
      if (channel !== opened) return;
      channel = undefined;
      // A channel closed under an open connection (a broker-side error): start over with a fresh connection.
      if (!closing) model.close().catch(() => {});
    });
    await opened.assertExchange(exchange, 'topic', { durable: true });
    channel = opened;
  }

  const publish = async (rows: OutboxRow[]) => {
    const open = channel;
    if (!open) throw new Error('no channel to RabbitMQ');
    for (const row of rows) {
      open.publish(exchange, row.type, Buffer.from(row.body), {
        persistent: true,
        contentType: 'application/json',
        messageId: row.eventId,
        type: row.type,
        timestamp: Math.floor(row.createdAt.getTime() / 1000),
        appId: 'task-api',
      });
    }
    // Rejects when the broker nacks any of them, or the channel closes: then nothing is marked sent.
    await withTimeout(open.waitForConfirms(), CONFIRM_TIMEOUT_MS, 'waiting for publisher confirms');
  };

  async function run(): Promise<void> {
    while (!closing) {
      if (!channel) {
        await wait(pollIntervalMs);
        continue;
      }
      try {
        const sent = await outbox.claim(batchSize, publish);
        if (sent > 0) options.onPublished?.(sent);
        if (failingSince !== undefined) {
          log.info({ failed_attempts: failures, failing_ms: Date.now() - failingSince }, 'publishing events again');
          failingSince = undefined;
          failures = 0;
        }
        // A full batch suggests more are waiting: go again at once.
        if (sent < batchSize) {
          await wait(pollIntervalMs);
          if (!closing) await sleep(LINGER_MS);
        }
      } catch (err) {
        options.onFailure?.();
        failures += 1;
        if (failingSince === undefined) {
          failingSince = Date.now();
          log.warn({ err: loggable(err) }, 'publishing events failed; they stay in the outbox and are retried');
        }
        await wait(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 10)));
      }
    }
  }

  return {
    /** True while a channel to the broker is open. */
    get connected(): boolean {
      return channel !== undefined;
    },

    wake,

    async start(): Promise<void> {
      connection = await amqp.connect(options.url, {
        recovery: {
          waitForConnect: false,
          maxRetries: Number.POSITIVE_INFINITY,
          initialDelay: 500,
          maxDelay: RETRY_MAX_MS,
          setup: openChannel,
        },
      });
      connection.on('error', () => {}); // followed by 'disconnect', handled there
      connection.on('connect-failed', brokerDown);
      connection.on('disconnect', brokerDown);
      connection.on('connect', () => {
        if (outageSince !== undefined) {
          log.info({ down_ms: Date.now() - outageSince }, 'RabbitMQ reachable again: publishing the outbox');
        } else {
          log.info({ exchange }, 'connected to RabbitMQ');
        }
        outageSince = undefined;
        wake();
      });
      loop = run();
    },

    /** Stops after the batch in flight (if any) and closes the connection. */
    async close(): Promise<void> {
      closing = true;
      wake();
      await loop;
      await connection?.close().catch(() => {});
    },
  };
}
