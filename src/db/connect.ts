import type { Config } from '../config.js';
import { startEmbeddedPostgres } from './embedded.js';

export interface DatabaseTarget {
  url: string;
  /** Stops the embedded server, if one was started; nothing for an external database. */
  stop(): Promise<void>;
}

interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL under EMBEDDED_PG_DIR. One code path after this. */
export async function openDatabaseTarget(config: Config, log: Log, options: { attach?: boolean } = {}): Promise<DatabaseTarget> {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => {} };
  const embedded = await startEmbeddedPostgres({ dir: config.embeddedPgDir, log, attach: options.attach ?? false });
  return { url: embedded.url, stop: embedded.stop };
}
