import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../helpers/db.js';
import { type HttpClient, httpClient } from '../helpers/http.js';
import { runServerToExit, startServerProcess } from '../helpers/process.js';

const secrets = () => ({
  JWT_SECRET: randomBytes(32).toString('base64url'),
  PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
});

/** The user journey of the core issue, over HTTP against a running server. */
async function journey(api: HttpClient) {
  const user = {
    username: `ada_${randomBytes(3).toString('hex')}`,
    email: `ada${randomBytes(3).toString('hex')}@example.com`,
    password: 'correct horse battery',
  };
  expect((await api.post('/auth/register', user)).status).toBe(201);
  const login = await api.post('/auth/login', { username: user.username, password: user.password });
  expect(login.status).toBe(200);
  expect((await api.get('/users/me', { token: login.body.access_token })).body.username).toBe(user.username);
  const refreshed = await api.post('/auth/refresh', { refresh_token: login.body.refresh_token });
  expect(refreshed.status).toBe(200);
  expect((await api.post('/auth/logout', undefined, { token: refreshed.body.access_token })).status).toBe(204);
  expect((await api.get('/users/me', { token: refreshed.body.access_token })).status).toBe(401);
  expect((await api.post('/auth/refresh', { refresh_token: refreshed.body.refresh_token })).status).toBe(401);
  return user;
}

describe('the built server as a separate process', () => {
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await createEmptyDatabase();
  });
  afterAll(() => db.drop());

  it('on DATABASE_URL: migrates an empty database, serves /docs and the whole auth journey, exits 0 on SIGTERM', async () => {
    const server = await startServerProcess({ DATABASE_URL: db.url, BCRYPT_COST: '4', ...secrets() });
    try {
      expect((await fetch(`${server.baseUrl}/docs`)).status).toBe(200);
      await journey(httpClient(`${server.baseUrl}/api/v1`));
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0);
    }
    expect(server.output()).not.toContain('embedded PostgreSQL');
  });

  it('refuses a bad configuration with one line naming the variable, exit 1', async () => {
    const result = await runServerToExit({ PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'task-api: invalid configuration: PORT must be an integer from 0 to 65535 (got "eighty")',
    ]);
    const prod = await runServerToExit({ NODE_ENV: 'production' });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toContain('JWT_SECRET is required when NODE_ENV=production');
  });
});

describe('the embedded default', () => {
  const dataDir = path.join(os.tmpdir(), `task-api-embedded-${randomBytes(4).toString('hex')}`);
  beforeAll(() => mkdir(dataDir, { recursive: true, mode: 0o755 }));
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('initialises, keeps data and secrets across restarts, survives a crash, and stops its PostgreSQL on SIGTERM', async () => {
    const env = { DATA_DIR: dataDir, BCRYPT_COST: '4' };
    const first = await startServerProcess(env, 60_000);
    const api = httpClient(`${first.baseUrl}/api/v1`);
    const user = await journey(api);
    const token = (await api.post('/auth/login', { username: user.username, password: user.password })).body.access_token;

    // A crash leaves the embedded PostgreSQL running without its parent.
    const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
    const stalePid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    expect(() => process.kill(stalePid, 0)).not.toThrow();

    const second = await startServerProcess(env, 60_000);
    try {
      expect(second.output()).toContain(`stopping embedded PostgreSQL (pid ${stalePid}) left running by an earlier run`);
      const api2 = httpClient(`${second.baseUrl}/api/v1`);
      // Same data and same generated secrets: the account and the earlier token still work.
      expect((await api2.post('/auth/login', { username: user.username, password: user.password })).status).toBe(200);
      expect((await api2.get('/users/me', { token })).status).toBe(200);
    } finally {
      expect(await second.stop('SIGTERM')).toBe(0);
    }
    expect(existsSync(pidFile)).toBe(false);
  });
});
