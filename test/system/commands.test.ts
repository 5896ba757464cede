import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runToExit } from '../helpers/process.js';

const script = (name: string) => path.resolve('dist/scripts', name);

/** Runs a built command in `cwd` with only the given environment (and PATH), to its end. */
const run = (file: string, args: string[], env: Record<string, string>, cwd: string) =>
  runToExit(script(file), args, env, '', cwd);

const lines = (text: string) => text.trim().split('\n');

describe('commands: a failure is one line on stderr and exit 1', () => {
  let dir: string;
  let dump: string;
  beforeAll(async () => {
    // An empty directory: no .env of the developer's is read.
    dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-commands-'));
    dump = path.join(dir, 'some.dump');
    await writeFile(dump, '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const commands: Array<[string, string, () => string[]]> = [
    ['migrate', 'migrate.js', () => []],
    ['create-admin', 'create-admin.js', () => ['--username', 'ada', '--email', 'ada@example.com', '--password', 'x'.repeat(12)]],
    ['db:backup', 'backup.js', () => []],
    ['db:restore', 'restore.js', () => [dump]],
    ['events:tail', 'events-tail.js', () => []],
  ];

  it.each(commands)('%s with a bad variable (PORT=abc): one line naming it', async (name, file, args) => {
    const result = await run(file, args(), { PORT: 'abc' }, dir);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([`${name}: invalid configuration: PORT must be an integer from 0 to 65535 (got "abc")`]);
    expect(result.stdout).toBe('');
  });

  it('migrate with a database that does not answer: one line, without the password', async () => {
    const url = `postgres://task:s3cret-pw@127.0.0.1:${await freePort()}/task`;
    const result = await run('migrate.js', [], { DATABASE_URL: url, LOG_LEVEL: 'silent' }, dir);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^migrate: .*ECONNREFUSED/)]);
    expect(result.stderr).not.toContain('s3cret-pw');
  });

  it('.env in the working directory is read; a variable already set wins; no .env is fine', async () => {
    const withEnv = await mkdtemp(path.join(os.tmpdir(), 'task-api-dotenv-'));
    try {
      await writeFile(path.join(withEnv, '.env'), '# a comment\nPORT=from-dotenv\n');
      const fromFile = await run('events-tail.js', [], {}, withEnv);
      expect(lines(fromFile.stderr)).toEqual([
        'events:tail: invalid configuration: PORT must be an integer from 0 to 65535 (got "from-dotenv")',
      ]);
      // PORT set in the environment wins over .env; the command then gets as far as its own check.
      const noEvents = 'events:tail: AMQP_URL is not set: events are off, there is nothing to tail';
      const set = await run('events-tail.js', [], { PORT: '8000' }, withEnv);
      expect(lines(set.stderr)).toEqual([noEvents]);
      const none = await run('events-tail.js', [], {}, dir);
      expect(lines(none.stderr)).toEqual([noEvents]);
      expect(none.code).toBe(1);
    } finally {
      await rm(withEnv, { recursive: true, force: true });
    }
  });
});

it('package.json asks for a Node.js that has process.loadEnvFile (20.12)', async () => {
  const { engines } = JSON.parse(await readFile('package.json', 'utf8')) as { engines: { node: string } };
  expect(engines.node).toBe('>=20.12');
});
