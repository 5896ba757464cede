import { createWakeableSleep } from './wakeable-sleep.js';

export interface BackgroundLoopOptions {
  /** One round of work; true when more is waiting (the next round starts at once), false to pause. */
  round(): Promise<boolean>;
  /** The pause between rounds, which a wake ends early; also the wait after a failed round. */
  pollIntervalMs: number;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** What a failed round's error may say in the log (the caller knows what its errors carry). */
  describeError(err: unknown): unknown;
  /** Logged once when rounds start failing, and once when they succeed again. */
  messages: { failing: string; recovered: string };
  /** How long close waits for the round in flight (its work is then left to its lease); unset: until it ends. */
  closeWaitMs?: number;
}

/**
 * A background worker's loop (the mail sender, the webhook fan-out and deliverer): rounds until
 * closed, a pause between them that a wake cuts short, and a failing database logged once when it
 * goes and once when it is back rather than every round.
 */
export function createBackgroundLoop(options: BackgroundLoopOptions) {
  const { log, messages, pollIntervalMs } = options;
  let closing = false;
  let loop: Promise<void> | undefined;
  let failingSince: number | undefined;
  const { wait, wake } = createWakeableSleep(() => closing);

  async function run(): Promise<void> {
    while (!closing) {
      try {
        const more = await options.round();
        if (failingSince !== undefined) {
          log.info({ failing_ms: Date.now() - failingSince }, messages.recovered);
          failingSince = undefined;
        }
        if (!more) await wait(pollIntervalMs);
      } catch (err) {
        if (failingSince === undefined) {
          failingSince = Date.now();
          log.warn({ err: options.describeError(err) }, messages.failing);
        }
        await wait(pollIntervalMs);
      }
    }
  }

  return {
    wake,
    /** True once close has begun: a round stops between items. */
    get closing(): boolean {
      return closing;
    },
    start(): void {
      loop ??= run();
    },
    async close(): Promise<void> {
      closing = true;
      wake();
      if (options.closeWaitMs === undefined) {
        await loop;
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.closeWaitMs)))]);
      clearTimeout(timer);
    },
  };
}
