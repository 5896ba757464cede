import pg from 'pg';

export interface ListenerOptions {
  connectionString: string;
  channels: readonly string[];
  onNotification(channel: string, payload: string): void;
  /** After each (re)connection: anything announced while it was down was missed. */
  onListening(): void;
  log: { warn(obj: object, msg: string): void };
}

/**
 * One connection per instance LISTENing to the stream's channels (the outbox's wake, the auth
 * changes), reconnected a second after it is lost. While it is down the feed still polls and the
 * periodic re-check still runs: streams are late, never wrong.
 */
export function createListener(options: ListenerOptions) {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: 'task-api-stream-listener',
      keepAlive: true,
    });
    const lost = (err?: Error) => {
      if (client !== next) return;
      client = undefined;
      if (closed) return;
      options.log.warn({ err: err ? { message: err.message } : undefined }, 'stream listener lost: polling until it is back');
      retry = setTimeout(connect, 1_000);
      retry.unref();
    };
    next.on('error', lost);
    next.on('end', () => lost());
    next.on('notification', (message) => options.onNotification(message.channel, message.payload ?? ''));
    client = next;
    try {
      await next.connect();
      for (const channel of options.channels) await next.query(`LISTEN ${channel}`);
      options.onListening();
    } catch (err) {
      lost(err as Error);
      next.end().catch(() => {});
    }
  };

  return {
    start: connect,
    async close(): Promise<void> {
      closed = true;
      clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}

/**
 * Coalesces this instance's "rows were committed" into at most one NOTIFY per `intervalMs`, sent
 * after the commits (never inside a write's transaction, where a NOTIFY would serialise commits).
 */
export function createCoalescedNotify(send: () => Promise<void>, intervalMs: number, onError: (err: unknown) => void) {
  let lastSent = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    if (stopped) return;
    lastSent = Date.now();
    send().catch(onError);
  };
  return {
    kick(): void {
      if (timer || stopped) return;
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    },
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
