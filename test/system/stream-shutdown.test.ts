import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin } from '../helpers/app.js';
import { createEmptyDatabase } from '../helpers/db.js';
import { httpClient } from '../helpers/http.js';
import { startServerProcess } from '../helpers/process.js';
import { openStream } from '../helpers/sse.js';

describe('a server process with open streams', () => {
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await createEmptyDatabase();
  });
  afterAll(() => db.drop());

  it('ends them on SIGTERM and exits 0 promptly, well within SHUTDOWN_TIMEOUT_MS', async () => {
    const server = await startServerProcess({
      DATABASE_URL: db.url,
      BCRYPT_COST: '4',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
      // A shutdown that waited for the streams would take this long and exit 1.
      SHUTDOWN_TIMEOUT_MS: '20000',
    });
    let streams: Awaited<ReturnType<typeof openStream>>[] = [];
    try {
      const user = await registerAndLogin(httpClient(`${server.baseUrl}/api/v1`), 'stayer');
      streams = await Promise.all([1, 2, 3].map(() => openStream(server.baseUrl, { token: user.token })));
      expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);
    } catch (err) {
      await server.stop('SIGKILL');
      throw err;
    }
    const started = Date.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    await Promise.all(streams.map((s) => s.ended));
  });
});
