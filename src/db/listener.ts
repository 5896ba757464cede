import pg from 'pg';

export interface ListenerOptions {
  connectionString: string;
  /** application_name of the connection (pg_stat_activity). */
  applicationName: string;
  channels: readonly string[];
  onNotification(channel: string, payload: string): void;
  /** After each (re)connection: anything announced while it was down was missed. */
  onListening(): void;
  /** The connection is lost (it is retried a second later). */
  onLost?(): void;
  /** Logged once per loss. */
  lostMessage: string;
  log: { warn(obj: object, msg: string): void };
}

/**
 * One connection LISTENing to PostgreSQL channels, reconnected a second after it is lost, until
 * closed. What is announced while it is down is missed: `onListening` says when to catch up.
 */
export function createListener(options: ListenerOptions) {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: options.applicationName,
      keepAlive: true,
    });
    const lost = (err?: Error) => {
      if (client !== next) return;
      client = undefined;
      options.onLost?.();
      if (closed) return;
      options.log.warn({ err: err ? { message: err.message } : undefined }, options.lostMessage);
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
