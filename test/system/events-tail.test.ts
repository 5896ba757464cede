import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { AMQP_URL, uniqueExchange, until } from '../helpers/rabbitmq.js';

// The built command (`node dist/scripts/events-tail.js`) against a server publishing to its own exchange.
let db: TestDatabase;
let app: TestApp;
const exchange = uniqueExchange('tail');

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startApp(
    testConfig(db.url, {
      amqpUrl: AMQP_URL,
      events: { exchange, batchSize: 50, pollIntervalMs: 200, retentionHours: 72 },
    }),
  );
});
afterAll(async () => {
  await app?.close();
  await db?.drop();
});

describe('npm run events:tail', () => {
  const script = path.resolve('dist/scripts/events-tail.js');

  it('prints each event as one line, or the raw body with --json', async () => {
    const tail = (args: string[]) => {
      const child = spawn(process.execPath, [script, ...args], {
        env: { PATH: process.env.PATH ?? '', AMQP_URL, AMQP_EXCHANGE: exchange },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = { out: '', err: '' };
      child.stdout.on('data', (c: Buffer) => {
        output.out += c.toString();
      });
      child.stderr.on('data', (c: Buffer) => {
        output.err += c.toString();
      });
      return { child, output };
    };
    const lines = tail(['task.*']);
    const raw = tail(['--json']);
    try {
      await until('events:tail to listen', () => lines.output.err.includes('listening') && raw.output.err.includes('listening'));
      const user = await registerAndLogin(app.api, 'tail');
      const created = await app.api.post('/tasks', { title: 'Tailed' }, { token: user.token });
      await until('the task line', () => lines.output.out.includes(`task #${created.body.id}`));
      await until('two raw events', () => raw.output.out.trim().split('\n').length >= 2);
      const line = lines.output.out.trim().split('\n');
      expect(line).toHaveLength(1); // task.* does not match user.registered
      expect(line[0]).toMatch(
        new RegExp(`^\\S+Z\\s+task\\.created\\s+task #${created.body.id}\\s+by ${user.username} \\(#${user.id}\\)$`),
      );
      const bodies = raw.output.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(bodies.map((b) => b.type)).toEqual(['user.registered', 'task.created']);
      expect(bodies[1].data).toEqual(created.body);
    } finally {
      lines.child.kill('SIGINT');
      raw.child.kill('SIGINT');
    }
  });

  it('says clearly that AMQP_URL is unset', async () => {
    const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err.trim()).toBe('events:tail: AMQP_URL is not set: events are off, there is nothing to tail');
  });
});
