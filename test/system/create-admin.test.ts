import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../helpers/db.js';
import { httpClient } from '../helpers/http.js';
import { runServerToExit, runToExit, startServerProcess } from '../helpers/process.js';

const SCRIPT = path.resolve('dist/scripts/create-admin.js');

const createAdmin = (args: string[], env: Record<string, string>, stdin?: string) => runToExit(SCRIPT, args, env, stdin);

const baseEnv = () => ({
  JWT_SECRET: randomBytes(32).toString('base64url'),
  PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
  BCRYPT_COST: '4',
});

async function login(baseUrl: string, username: string, password: string) {
  return httpClient(`${baseUrl}/api/v1`).post('/auth/login', { username, password });
}

describe('npm run create-admin', () => {
  let db: { url: string; drop(): Promise<void> };
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createEmptyDatabase();
    env = { ...baseEnv(), DATABASE_URL: db.url };
  });
  afterAll(() => db.drop());

  it('creates an admin who can log in and read the statistics; promotes an existing user', async () => {
    const created = await createAdmin(
      ['--username', 'boss', '--email', 'boss@example.com', '--password', 'boss-password-1'],
      env,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^create-admin: created admin "boss" \(id \d+\)$/m);

    const server = await startServerProcess(env);
    try {
      const api = httpClient(`${server.baseUrl}/api/v1`);
      const boss = await login(server.baseUrl, 'boss', 'boss-password-1');
      expect(boss.body.user.role).toBe('admin');
      expect((await api.get('/tasks/admin/stats', { token: boss.body.access_token })).status).toBe(200);

      await api.post('/auth/register', { username: 'carol', email: 'carol@example.com', password: 'carol-password' });
      const promoted = await createAdmin(
        ['--username', 'carol', '--email', 'ignored@example.com', '--password-stdin'],
        env,
        'other-password\n',
      );
      expect(promoted.code).toBe(0);
      expect(promoted.stdout).toContain('promoted admin "carol"');
      // Promotion keeps the password; the role applies at once.
      const carol = await login(server.baseUrl, 'carol', 'carol-password');
      expect(carol.body.user.role).toBe('admin');
      const again = await createAdmin(['--username', 'carol', '--email', 'x@example.com', '--password', 'whatever-1'], env);
      expect(again.stdout).toContain('unchanged admin "carol"');
    } finally {
      await server.stop();
    }
  });

  it('refuses bad arguments and bad accounts with a clear message', async () => {
    const missing = await createAdmin(['--username', 'x'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--username, --email and a password are required');
    const unknown = await createAdmin(['--user', 'x'], env);
    expect(unknown.code).toBe(2);
    const weak = await createAdmin(['--username', 'weak', '--email', 'weak@example.com', '--password', 'short'], env);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('invalid admin account: password must NOT have fewer than 8 characters');
    const taken = await createAdmin(['--username', 'boss2', '--email', 'BOSS@example.com', '--password', 'long-enough-1'], env);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('Email already registered');
  });
});

describe('FIRST_ADMIN_*', () => {
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await createEmptyDatabase();
  });
  afterAll(() => db.drop());

  it('creates the admin at start when no user has that username, and never changes it afterwards', async () => {
    const env = {
      ...baseEnv(),
      DATABASE_URL: db.url,
      FIRST_ADMIN_USERNAME: 'founder',
      FIRST_ADMIN_EMAIL: 'founder@example.com',
      FIRST_ADMIN_PASSWORD: 'founder-password',
    };
    const first = await startServerProcess(env);
    try {
      expect(first.output()).toContain('created the first admin from FIRST_ADMIN_*');
      expect(first.output()).not.toContain('founder-password');
      expect((await login(first.baseUrl, 'founder', 'founder-password')).body.user.role).toBe('admin');
    } finally {
      await first.stop();
    }
    const second = await startServerProcess({ ...env, FIRST_ADMIN_PASSWORD: 'a-different-password' });
    try {
      expect(second.output()).not.toContain('created the first admin');
      expect((await login(second.baseUrl, 'founder', 'founder-password')).status).toBe(200);
      expect((await login(second.baseUrl, 'founder', 'a-different-password')).status).toBe(401);
    } finally {
      await second.stop();
    }
  });

  it('all three or none: a partial set stops the process', async () => {
    const result = await runServerToExit({ FIRST_ADMIN_USERNAME: 'founder' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FIRST_ADMIN_USERNAME, FIRST_ADMIN_EMAIL, FIRST_ADMIN_PASSWORD must be set together');
  });
});

describe('create-admin beside a running server on the embedded database', () => {
  const dataDir = path.join(os.tmpdir(), `task-api-admin-${randomBytes(4).toString('hex')}`);
  beforeAll(() => mkdir(dataDir, { recursive: true, mode: 0o755 }));
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('uses the running server’s database instead of stopping it; a second server is refused', async () => {
    const env = { DATA_DIR: dataDir, BCRYPT_COST: '4' };
    const server = await startServerProcess(env, 60_000);
    try {
      const result = await createAdmin(['--username', 'ops', '--email', 'ops@example.com', '--password', 'ops-password'], env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect((await login(server.baseUrl, 'ops', 'ops-password')).body.user.role).toBe('admin');
      const rival = await runServerToExit({ ...env, PORT: '0' });
      expect(rival.code).toBe(1);
      expect(rival.stderr).toContain('another task-api process');
      // The first server is still serving.
      expect((await login(server.baseUrl, 'ops', 'ops-password')).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
