import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Type } from 'typebox';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { integer, readConfig, renderEnvFile, variablesOf } from '../../src/config/variables.js';
import { type AppConfig, CONFIG_VARIABLES, type Config, ConfigError, loadConfig } from '../../src/config.js';
import { resolveSecrets } from '../../src/secrets.js';

const SECRET = 's'.repeat(32);

describe('configuration', () => {
  it('has safe defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      databaseUrl: undefined,
      accessTokenExpireMinutes: 30,
      refreshTokenExpireDays: 7,
      bcryptCost: 12,
      corsOrigins: '*',
    });
    expect(config.embeddedPgDir).toBe(path.resolve('data/postgres'));
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be an integer/],
    [{ PORT: '70000' }, /^PORT must be an integer from 0 to 65535/],
    [{ BCRYPT_COST: '3' }, /^BCRYPT_COST/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV must be one of/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, /^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL \(got scheme "mysql:"\)/],
    [{ REDIS_URL: 'http://cache:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ TRUST_PROXY: 'everyone' }, /^TRUST_PROXY must be a hop count or a comma-separated list/],
    [{ WORKERS: '0' }, /^WORKERS must be an integer/],
    [{ RATE_LIMIT_ENABLED: 'maybe' }, /^RATE_LIMIT_ENABLED must be true or false/],
    [{ DATABASE_URL: 'not a url' }, /^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL$/],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32 bytes/],
    [{ CORS_ORIGINS: 'https://ok.example, nope' }, /^CORS_ORIGINS/],
    [{ CORS_ORIGINS: 'https://ok.example/path' }, /^CORS_ORIGINS/],
    [{ ACCESS_TOKEN_EXPIRE_MINUTES: '0' }, /^ACCESS_TOKEN_EXPIRE_MINUTES/],
  ])('refuses %o with one clear line', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('production refuses to start without strong secrets or with a test-grade bcrypt cost', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PASSWORD_PEPPER: SECRET })).toThrow(/^JWT_SECRET is required/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET })).toThrow(/^PASSWORD_PEPPER is required/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, PASSWORD_PEPPER: SECRET, BCRYPT_COST: '4' })).toThrow(
      /^BCRYPT_COST must be at least 10/,
    );
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, PASSWORD_PEPPER: SECRET }).jwtSecret).toBe(SECRET);
  });

  it('outside production, missing secrets are generated once, kept private, and reused', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-secrets-'));
    try {
      const warnings: string[] = [];
      const first = await resolveSecrets(loadConfig({ DATA_DIR: dir }), (m) => warnings.push(m));
      const second = await resolveSecrets(loadConfig({ DATA_DIR: dir }), () => {});
      expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
      expect(first.passwordPepper).not.toBe(first.jwtSecret);
      expect(second.jwtSecret).toBe(first.jwtSecret);
      expect(second.passwordPepper).toBe(first.passwordPepper);
      expect(warnings[0]).toMatch(/JWT_SECRET and PASSWORD_PEPPER not set/);
      expect(warnings[0]).not.toContain(first.jwtSecret);
      const file = path.join(dir, 'secrets.json');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(file, 'utf8')).jwtSecret).toBe(first.jwtSecret);
      const explicit = await resolveSecrets(loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }), () => {});
      expect(explicit.jwtSecret).toBe(SECRET);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('no message repeats the value of a secret or of a URL (which may hold a password)', () => {
    const sensitive = CONFIG_VARIABLES.filter((name) => /_URLS?$|_SECRET$|_PEPPER$|_PASSWORD$|_TOKEN$/.test(name));
    expect(sensitive.length).toBeGreaterThanOrEqual(8);
    const messages: string[] = [];
    for (const name of sensitive) {
      for (const value of ['sekrit', 'mysql://user:sekrit@host/db', 'postgres://u:sekrit@h/d, http://u:sekrit@h']) {
        try {
          loadConfig({ DATABASE_URL: name === 'DATABASE_URL' ? undefined : 'postgres://h/d', [name]: value });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          messages.push((err as Error).message);
        }
      }
    }
    expect(messages.length).toBeGreaterThanOrEqual(12);
    for (const message of messages) expect(message).not.toContain('sekrit');
  });

  it('a variable declared once in a schema is typed, read, validated, allowed and documented', () => {
    const schema = Type.Object({
      nested: Type.Object({ level: integer('LEVEL', 3, [1, 5], { group: 'g', doc: ['How loud.'] }) }),
    });
    const value = readConfig(schema, { LEVEL: '4' });
    expectTypeOf(value).toEqualTypeOf<{ nested: { level: number } }>();
    expect(value).toEqual({ nested: { level: 4 } });
    expect(readConfig(schema, {})).toEqual({ nested: { level: 3 } });
    expect(() => readConfig(schema, { LEVEL: '6' })).toThrow(new ConfigError('LEVEL must be an integer from 1 to 5 (got "6")'));
    expect(variablesOf(schema).map((v) => v.name)).toEqual(['LEVEL']);
    expect(renderEnvFile(schema, { header: ['Top.'], groups: [{ id: 'g', title: 'G' }], footer: [] })).toContain(
      '# How loud.\nLEVEL=3\n',
    );
    expect(CONFIG_VARIABLES).toContain('DATABASE_REPLICA_URLS');
  });

  it('the app is given a database URL, always (DATABASE_URL or the embedded server resolved before buildApp)', () => {
    expectTypeOf<AppConfig['databaseUrl']>().toEqualTypeOf<string>();
    expectTypeOf<Config['databaseUrl']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Config['firstAdmin']>().toEqualTypeOf<{ username: string; email: string; password: string } | undefined>();
    expectTypeOf<Config['trustProxy']>().toEqualTypeOf<boolean | number | string[]>();
  });
});
