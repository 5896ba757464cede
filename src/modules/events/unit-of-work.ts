import type { SQL } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import type { NewEvent } from './events.js';
import { type OutboxStatement, outboxInsert, recordEvents } from './repository.js';

/**
 * What a write sees of its unit: the executor its statements go to, and how it records events.
 * Whether events are on is decided here, once: a write is the same code either way.
 */
export interface Work {
  db: Executor;
  /** Writes the events (built only when events are on) to the outbox, in this unit's transaction. */
  record(events: () => NewEvent[]): Promise<void>;
  /**
   * The outbox insert of a one-statement write (a data-modifying CTE): added to the write's own
   * statement, so the change and its event are one round trip. Inserts nothing when events are off.
   */
  outbox(event: Omit<OutboxStatement, 'record' | 'pending'>): SQL;
}

export interface UnitOfWork {
  /** Runs `write` in one transaction; after its commit, wakes the outbox's consumers. */
  run<T>(write: (work: Work) => Promise<T>): Promise<T>;
  /**
   * For a write that is one statement (its events in the same statement, `work.outbox`): no
   * BEGIN/COMMIT, as one statement is atomic by itself. `work.record` is refused here.
   */
  statement<T>(write: (work: Work) => Promise<T>): Promise<T>;
}

/** Who reads the outbox: decides whether writes record events, and whether they mark them pending. */
export interface OutboxConsumers {
  /** AMQP_URL is set: the RabbitMQ publisher sends the rows marked pending. */
  broker: boolean;
  /** WEBHOOKS_ENABLED: the webhook feed reads every row, in commit order, without marks. */
  webhooks: boolean;
  /** STREAM_ENABLED: each instance's stream feed reads every row, in commit order, without marks. */
  stream: boolean;
}

/** The consumers a configuration has (the server's, create-admin's and FIRST_ADMIN_*'s writes alike). */
export const outboxConsumers = (config: {
  amqpUrl?: string | undefined;
  webhooks: { enabled: boolean };
  stream: { enabled: boolean };
}): OutboxConsumers => ({
  broker: config.amqpUrl !== undefined,
  webhooks: config.webhooks.enabled,
  stream: config.stream.enabled,
});

/**
 * `consumers`: whether writes record events (any consumer) and mark them pending (the broker's).
 * `wake`: this instance's consumers, told once after each commit (a wake coalesces: wakes during a
 * batch make one more round, never one per request); absent outside the server (create-admin),
 * where a running server's publisher and feed find the rows by polling.
 */
export function createUnitOfWork(
  db: Database,
  options: { consumers: OutboxConsumers; wake?: (() => void) | undefined },
): UnitOfWork {
  const on = options.consumers.broker || options.consumers.webhooks || options.consumers.stream;
  const pending = options.consumers.broker;
  const committed = <T>(result: T): T => {
    if (on) options.wake?.();
    return result;
  };
  const outbox = (event: Omit<OutboxStatement, 'record' | 'pending'>) => outboxInsert({ ...event, record: on, pending });
  return {
    async run(write) {
      return committed(
        await db.transaction((tx) =>
          write({ db: tx, outbox, record: async (events) => (on ? recordEvents(tx, events(), pending) : undefined) }),
        ),
      );
    },
    async statement(write) {
      const record = async () => {
        throw new Error('a one-statement write records its events with work.outbox');
      };
      return committed(await write({ db, outbox, record }));
    },
  };
}
