import { afterAll, afterEach, beforeAll } from 'vitest';
import type { AppConfig } from '../../src/config.js';
import { testConfig } from './app.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startSmtpServer, type TestSmtpServer } from './smtp.js';

export interface MailWorld {
  readonly db: TestDatabase;
  readonly smtp: TestSmtpServer;
  /** A test configuration that mails to the test SMTP server with links at `publicUrl`, retrying quickly. */
  config(overrides?: Partial<AppConfig>): AppConfig;
  /** Closes the app after the current test. */
  track<T extends { close(): Promise<unknown> }>(app: T): T;
}

/**
 * The setting of a mail test file: one scratch database and one SMTP server for the file; after each
 * test its apps are closed, the mails they left unsent dropped (the next app has another JWT_SECRET
 * and could not open them) and the SMTP server listening again (a test may have stopped it).
 */
export function useMailWorld(publicUrl: string): MailWorld {
  let db: TestDatabase | undefined;
  let smtp: TestSmtpServer | undefined;
  const started: Array<{ close(): Promise<unknown> }> = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp?.stop();
    await db?.drop();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((app) => app.close()));
    await db?.pool.query('DELETE FROM mail_queue');
    await smtp?.start().catch(() => {}); // already listening: a no-op
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the mail world is set up in beforeAll');
    return value;
  };
  return {
    get db() {
      return ready(db);
    },
    get smtp() {
      return ready(smtp);
    },
    config: (overrides = {}) =>
      testConfig(ready(db).url, {
        smtpUrl: ready(smtp).url,
        publicUrl,
        mail: { maxAttempts: 20, retryBaseMs: 100, pollIntervalMs: 50 },
        ...overrides,
      }),
    track(app) {
      started.push(app);
      return app;
    },
  };
}
