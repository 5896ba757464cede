import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { freePort } from './process.js';

/** The machine's RabbitMQ (CI: started by .ci/run). Every test uses an exchange of its own on it. */
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** An exchange name no other run or test shares. */
export const uniqueExchange = (label: string) => `task-api-test.${label}.${randomBytes(5).toString('hex')}`;

export interface ReceivedEvent {
  body: Record<string, unknown> & { id: string; type: string; subject: { type: string; id: number } };
  routingKey: string;
  properties: amqp.MessageProperties;
}

export interface EventCollector {
  events: ReceivedEvent[];
  /** Polls until `count` events have arrived (or fails after `timeoutMs`), then returns them. */
  waitForCount(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  close(): Promise<void>;
}

/** Like a consumer: a queue of its own bound to every routing key of `exchange`, collecting what arrives. */
export async function collectEvents(url: string, exchange: string): Promise<EventCollector> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, '#');
  const events: ReceivedEvent[] = [];
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      events.push({
        body: JSON.parse(message.content.toString('utf8')),
        routingKey: message.fields.routingKey,
        properties: message.properties,
      });
    },
    { noAck: true },
  );
  return {
    events,
    async waitForCount(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${events.length} in ${timeoutMs} ms`);
        await sleep(50);
      }
      return events;
    },
    async close() {
      await channel.deleteExchange(exchange).catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}

/** Polls `probe` until it returns true (or fails after `timeoutMs` with `what`). */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface RabbitServer {
  url: string;
  /** Kills the broker (as a crash would); its data stays for the next start. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** How long each start took until it accepted AMQP connections (ms). */
  startTimes: number[];
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** The rabbitmq-server script itself, not the Debian wrapper that switches to the rabbitmq user. */
function rabbitmqServerScript(): string {
  const onPath = execFileSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' }).trim();
  return path.join(path.dirname(realpathSync(onPath)), 'rabbitmq-server');
}

async function waitForAmqp(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rabbitmq-server exited with ${child.exitCode}:\n${output()}`);
    try {
      const connection = await amqp.connect(url);
      await connection.close();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`private rabbitmq-server did not answer: ${(err as Error).message}\n${output()}`);
      await sleep(250);
    }
  }
}

/**
 * A private RabbitMQ node on spare ports, with its data, logs and cookie in a temporary directory,
 * for tests that must stop a broker without touching the machine's (which other tests use). It
 * registers with the machine's epmd under a name of its own. Starting takes seconds to a minute on
 * a loaded machine: callers give it generous time.
 */
export async function startRabbitServer(timeoutMs = 150_000): Promise<RabbitServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-rabbit-'));
  await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
  const port = await freePort();
  const distPort = await freePort();
  const node = `taskapi_${randomBytes(4).toString('hex')}@localhost`;
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const script = rabbitmqServerScript();
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir, // its own Erlang cookie
    ERL_CRASH_DUMP: path.join(dir, 'erl_crash.dump'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_FEATURE_FLAGS_FILE: path.join(dir, 'feature_flags'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
  };
  let child: ChildProcess | undefined;
  let output = '';
  const startTimes: number[] = [];

  const start = async () => {
    output = '';
    const began = Date.now();
    // Its own process group, so stop() reaches the Erlang VM under the script.
    const spawned = spawn(script, [], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    spawned.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    spawned.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    await waitForAmqp(url, spawned, () => output, timeoutMs);
    startTimes.push(Date.now() - began);
  };
  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.pid === undefined) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      process.kill(-(running.pid as number), 'SIGKILL');
    });
    // The VM is gone once its port is free (epmd drops the name when the VM's connection to it closes).
    for (let i = 0; i < 100; i++) {
      try {
        const connection = await amqp.connect(url);
        await connection.close();
        await sleep(100);
      } catch {
        return;
      }
    }
  };
  try {
    await start();
  } catch (err) {
    await stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    start,
    stop,
    startTimes,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
