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
  outbox(event: Omit<OutboxStatement, 'record'>): SQL;
}

export interface UnitOfWork {
  /** Runs `write` in one transaction; after its commit, wakes the publisher. */
  run<T>(write: (work: Work) => Promise<T>): Promise<T>;
  /**
   * For a write that is one statement (its events in the same statement, `work.outbox`): no
   * BEGIN/COMMIT, as one statement is atomic by itself. `work.record` is refused here.
   */
  statement<T>(write: (work: Work) => Promise<T>): Promise<T>;
}

/**
 * `recordEvents`: whether writes record events. `wake`: this instance's publisher, told once after
 * each commit (its wake coalesces: wakes during a batch make one more round, never one per request);
 * absent outside the server (create-admin), where a running server's publisher finds the rows by polling.
 */
export function createUnitOfWork(db: Database, options: { recordEvents: boolean; wake?: (() => void) | undefined }): UnitOfWork {
  const on = options.recordEvents;
  const committed = <T>(result: T): T => {
    if (on) options.wake?.();
    return result;
  };
  const outbox = (event: Omit<OutboxStatement, 'record'>) => outboxInsert({ ...event, record: on });
  return {
    async run(write) {
      return committed(
        await db.transaction((tx) =>
          write({ db: tx, outbox, record: async (events) => (on ? recordEvents(tx, events()) : undefined) }),
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
