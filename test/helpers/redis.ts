import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './process.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), empty. */
  start(): Promise<void>;
}

async function waitForPing(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {}); // a refused connection is expected while the server starts
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not answer: ${(err as Error).message}`);
      await sleep(100);
    } finally {
      client.disconnect();
    }
  }
}

/** A private redis-server on a spare port, for tests that must stop it. Needs the redis-server binary. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await waitForPing(url);
  };
  const stop = async () => {
    const running = child;
    // Killed by a signal, a process has a signalCode and no exitCode: stopped either way.
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  };
  await start();
  return { url, port, start, stop };
}

/**
 * The Redis that the "Redis configuration" of a suite uses: TEST_REDIS_URL (CI: the machine's
 * Redis) when set, otherwise a private redis-server. Keys are prefixed per app, so runs never mix.
 */
export async function sharedRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env.TEST_REDIS_URL;
  if (url) return { url, stop: async () => {} };
  const server = await startRedisServer();
  return { url: server.url, stop: server.stop };
}
