import { availableParallelism } from 'node:os';
import path from 'node:path';

/**
 * Configuration, read once from the environment and validated up front.
 * A bad value throws a ConfigError whose message is the one line the process prints before it exits.
 */
export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  logLevel: LogLevel;
  /** Unset: the server runs its own embedded PostgreSQL under `embeddedPgDir`. */
  databaseUrl: string | undefined;
  dbPoolMax: number;
  /**
   * Streaming replicas of `databaseUrl` for reads that tolerate lag (empty: none, and no routing
   * at all). A replica lagging past `maxLagMs`, down or promoted is skipped.
   */
  replicas: { urls: string[]; maxLagMs: number; checkIntervalMs: number };
  dataDir: string;
  embeddedPgDir: string;
  /** Unset outside production: generated once and kept under `dataDir` (see secrets.ts). */
  jwtSecret: string | undefined;
  passwordPepper: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenExpireMinutes: number;
  /** Clock difference tolerated on a token's iat, exp and nbf, and on top of its lifetime. */
  jwtClockSkewSeconds: number;
  refreshTokenExpireDays: number;
  bcryptCost: number;
  corsOrigins: string[] | '*';
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  dbStatementTimeoutMs: number;
  dbConnectionTimeoutMs: number;
  /** Unset: shared state (rate limits) lives in this process only. */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  rateLimit: {
    enabled: boolean;
    windowMs: number;
    /** Requests per window per user (per address when anonymous). */
    max: number;
    /** Requests per window per address on register, login and refresh. */
    authMax: number;
    /** Failed password attempts (logins, current_password) per window per account and client address. */
    loginFailureMax: number;
    loginFailureWindowMs: number;
    /** Failed password attempts per window per account from all addresses: slows a distributed guess. */
    loginFailureAccountMax: number;
    loginFailureAccountWindowMs: number;
    /** Rate limits count an IPv6 client by its network of this prefix length (IPv4 by its address). */
    ipv6Prefix: number;
  };
  /** Fastify's trustProxy: false, a hop count, or the addresses/CIDRs of trusted proxies. */
  trustProxy: boolean | number | string[];
  statsCacheTtlMs: number;
  /**
   * How long a login's check may be served from memory; 0 (the default): never. Opt-in, because
   * another instance hears of a logout through LISTEN/NOTIFY, a moment after it commits, not at once.
   */
  authCacheTtlMs: number;
  metricsToken: string | undefined;
  shutdownTimeoutMs: number;
  workers: number;
  /** Adds an X-Instance header naming this instance (for checking load balancing). */
  instanceName: string | undefined;
  /**
   * Unset: no events (no outbox rows are written). Set: every task and user change is recorded in
   * the outbox in its own transaction and published to `exchange` (see modules/events).
   */
  amqpUrl: string | undefined;
  events: {
    /** A durable topic exchange, declared by the publisher. */
    exchange: string;
    /** Outbox rows claimed and published per round. */
    batchSize: number;
    /** How often the publisher looks for rows written by other instances (its own writes wake it at once). */
    pollIntervalMs: number;
    /** Sent rows are kept this long, then pruned. */
    retentionHours: number;
  };
  /** Created at start when no user has this username (FIRST_ADMIN_*). */
  firstAdmin: { username: string; email: string; password: string } | undefined;
  /** The only directory db:backup and db:restore take pg_dump and pg_restore from (unset: PATH and the usual places). */
  pgBinDir: string | undefined;
}

/** A config whose secrets are resolved: what buildApp needs. */
export type AppConfig = Config & { jwtSecret: string; passwordPepper: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Every environment variable task-api reads. The readers below accept only these names, so a new
 * variable cannot be read without being listed here; the deployment files are checked against it.
 */
export const CONFIG_VARIABLES = [
  'NODE_ENV',
  'HOST',
  'PORT',
  'LOG_LEVEL',
  'DATABASE_URL',
  'DB_POOL_MAX',
  'DATABASE_REPLICA_URLS',
  'REPLICA_MAX_LAG_MS',
  'REPLICA_CHECK_INTERVAL_MS',
  'DATA_DIR',
  'EMBEDDED_PG_DIR',
  'JWT_SECRET',
  'PASSWORD_PEPPER',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ACCESS_TOKEN_EXPIRE_MINUTES',
  'JWT_CLOCK_SKEW_SECONDS',
  'REFRESH_TOKEN_EXPIRE_DAYS',
  'BCRYPT_COST',
  'CORS_ORIGINS',
  'BODY_LIMIT_BYTES',
  'REQUEST_TIMEOUT_MS',
  'HEADERS_TIMEOUT_MS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'DB_STATEMENT_TIMEOUT_MS',
  'DB_CONNECTION_TIMEOUT_MS',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'RATE_LIMIT_ENABLED',
  'RATE_LIMIT_WINDOW_MS',
  'RATE_LIMIT_MAX',
  'RATE_LIMIT_AUTH_MAX',
  'LOGIN_FAILURE_MAX',
  'LOGIN_FAILURE_WINDOW_MS',
  'LOGIN_FAILURE_ACCOUNT_MAX',
  'LOGIN_FAILURE_ACCOUNT_WINDOW_MS',
  'RATE_LIMIT_IPV6_PREFIX',
  'TRUST_PROXY',
  'STATS_CACHE_TTL_MS',
  'AUTH_CACHE_TTL_MS',
  'METRICS_TOKEN',
  'SHUTDOWN_TIMEOUT_MS',
  'WORKERS',
  'INSTANCE_NAME',
  'FIRST_ADMIN_USERNAME',
  'FIRST_ADMIN_EMAIL',
  'FIRST_ADMIN_PASSWORD',
  'PG_BIN_DIR',
  'AMQP_URL',
  'AMQP_EXCHANGE',
  'EVENTS_BATCH_SIZE',
  'EVENTS_POLL_INTERVAL_MS',
  'EVENTS_RETENTION_HOURS',
] as const;

export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];

type Env = Record<string, string | undefined>;

const MIN_SECRET_BYTES = 32;

function read(env: Env, name: ConfigVariable): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function int(env: Env, name: ConfigVariable, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return Number(raw);
}

function oneOf<T extends string>(env: Env, name: ConfigVariable, fallback: T, allowed: readonly T[]): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function secret(env: Env, name: ConfigVariable, production: boolean): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) {
    if (production) throw new ConfigError(`${name} is required when NODE_ENV=production (at least ${MIN_SECRET_BYTES} bytes)`);
    return undefined;
  }
  if (Buffer.byteLength(raw, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes long (got ${Buffer.byteLength(raw, 'utf8')})`);
  }
  return raw;
}

/** A URL whose scheme is one of `schemes` (e.g. ['postgres:', 'postgresql:']), or undefined when unset. */
function url(env: Env, name: ConfigVariable, schemes: string[]): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  return checkedUrl(name, raw, schemes);
}

/** Checks one URL; the message never repeats the value, which may hold a password. */
function checkedUrl(name: string, raw: string, schemes: string[]): string {
  const expected = schemes.map((scheme) => `${scheme}//`).join(' or ');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a ${expected} URL`);
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must be a ${expected} URL (got scheme "${parsed.protocol}")`);
  }
  return raw;
}

/** A comma-separated list of URLs, each checked like `url`; empty when unset. */
function urlList(env: Env, name: ConfigVariable, schemes: string[]): string[] {
  const raw = read(env, name);
  if (raw === undefined) return [];
  const entries = raw.split(',').map((entry) => entry.trim());
  return entries.map((entry, i) => {
    if (entry === '') throw new ConfigError(`${name}: entry ${i + 1} is empty`);
    return checkedUrl(entries.length > 1 ? `${name} (entry ${i + 1})` : name, entry, schemes);
  });
}

function replicas(env: Env, databaseUrl: string | undefined): Config['replicas'] {
  const urls = urlList(env, 'DATABASE_REPLICA_URLS', ['postgres:', 'postgresql:']);
  if (urls.length > 0 && databaseUrl === undefined) {
    throw new ConfigError('DATABASE_REPLICA_URLS needs DATABASE_URL (the primary they replicate)');
  }
  return {
    urls,
    maxLagMs: int(env, 'REPLICA_MAX_LAG_MS', 1_000, 10, 3_600_000),
    checkIntervalMs: int(env, 'REPLICA_CHECK_INTERVAL_MS', 250, 10, 60_000),
  };
}

function bool(env: Env, name: ConfigVariable, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

const ADDRESS_OR_CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)(\/\d{1,3})?$/;

function trustProxy(env: Env, name: ConfigVariable): Config['trustProxy'] {
  const raw = read(env, name);
  if (raw === undefined || raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const entry of list) {
    if (!ADDRESS_OR_CIDR.test(entry)) {
      throw new ConfigError(`${name} must be a hop count or a comma-separated list of proxy addresses or CIDRs (got "${entry}")`);
    }
  }
  return list;
}

function workers(env: Env, name: ConfigVariable, cpus: number): number {
  const raw = read(env, name);
  if (raw === 'auto') return cpus;
  return int(env, name, 1, 1, 256);
}

function firstAdmin(env: Env): Config['firstAdmin'] {
  const names: ConfigVariable[] = ['FIRST_ADMIN_USERNAME', 'FIRST_ADMIN_EMAIL', 'FIRST_ADMIN_PASSWORD'];
  const values = names.map((n) => env[n]);
  if (values.every((v) => v === undefined || v === '')) return undefined;
  if (values.some((v) => v === undefined || v === '')) throw new ConfigError(`${names.join(', ')} must be set together`);
  const [username, email, password] = values as [string, string, string];
  return { username: username.trim(), email: email.trim(), password };
}

/** AMQP exchange names: letters, digits, hyphen, underscore, period and colon, at most 255 bytes; not amq.*. */
function exchangeName(env: Env, name: ConfigVariable, fallback: string): string {
  const raw = read(env, name) ?? fallback;
  if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(raw) || raw.startsWith('amq.')) {
    throw new ConfigError(
      `${name} must be 1 to 255 letters, digits, '-', '_', '.' or ':' and must not start with "amq." (got "${raw}")`,
    );
  }
  return raw;
}

function origins(env: Env, name: ConfigVariable): string[] | '*' {
  const raw = read(env, name);
  if (raw === undefined || raw === '*') return '*';
  const list = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of list) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError(
        `${name} must be a comma-separated list of origins such as https://app.example.com (got "${origin}")`,
      );
    }
    if (url.origin !== origin) {
      throw new ConfigError(`${name}: "${origin}" is not an origin; write it as "${url.origin}"`);
    }
  }
  return list;
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf<NodeEnv>(env, 'NODE_ENV', 'development', ['development', 'production', 'test']);
  const production = nodeEnv === 'production';
  const dataDir = path.resolve(read(env, 'DATA_DIR') ?? 'data');
  const bcryptCost = int(env, 'BCRYPT_COST', 12, 4, 31);
  if (production && bcryptCost < 10) {
    throw new ConfigError(`BCRYPT_COST must be at least 10 when NODE_ENV=production (got ${bcryptCost})`);
  }
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  return {
    nodeEnv,
    host: read(env, 'HOST') ?? '127.0.0.1',
    port: int(env, 'PORT', 8000, 0, 65535),
    logLevel: oneOf<LogLevel>(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    databaseUrl,
    dbPoolMax: int(env, 'DB_POOL_MAX', 10, 1, 1000),
    replicas: replicas(env, databaseUrl),
    dataDir,
    embeddedPgDir: path.resolve(read(env, 'EMBEDDED_PG_DIR') ?? path.join(dataDir, 'postgres')),
    jwtSecret: secret(env, 'JWT_SECRET', production),
    passwordPepper: secret(env, 'PASSWORD_PEPPER', production),
    jwtIssuer: read(env, 'JWT_ISSUER') ?? 'task-api',
    jwtAudience: read(env, 'JWT_AUDIENCE') ?? 'task-api',
    accessTokenExpireMinutes: int(env, 'ACCESS_TOKEN_EXPIRE_MINUTES', 30, 1, 24 * 60),
    jwtClockSkewSeconds: int(env, 'JWT_CLOCK_SKEW_SECONDS', 60, 0, 600),
    refreshTokenExpireDays: int(env, 'REFRESH_TOKEN_EXPIRE_DAYS', 7, 1, 365),
    bcryptCost,
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000),
    headersTimeoutMs: int(env, 'HEADERS_TIMEOUT_MS', 10_000, 1000, 600_000),
    keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 75_000, 1000, 600_000),
    dbStatementTimeoutMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 5_000, 100, 600_000),
    dbConnectionTimeoutMs: int(env, 'DB_CONNECTION_TIMEOUT_MS', 3_000, 100, 60_000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: read(env, 'REDIS_KEY_PREFIX') ?? 'task-api:',
    rateLimit: {
      enabled: bool(env, 'RATE_LIMIT_ENABLED', true),
      windowMs: int(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1000, 86_400_000),
      max: int(env, 'RATE_LIMIT_MAX', 600, 1, 1_000_000),
      authMax: int(env, 'RATE_LIMIT_AUTH_MAX', 30, 1, 1_000_000),
      loginFailureMax: int(env, 'LOGIN_FAILURE_MAX', 10, 1, 1_000_000),
      loginFailureWindowMs: int(env, 'LOGIN_FAILURE_WINDOW_MS', 300_000, 1000, 86_400_000),
      loginFailureAccountMax: int(env, 'LOGIN_FAILURE_ACCOUNT_MAX', 100, 1, 1_000_000),
      loginFailureAccountWindowMs: int(env, 'LOGIN_FAILURE_ACCOUNT_WINDOW_MS', 3_600_000, 1000, 86_400_000),
      ipv6Prefix: int(env, 'RATE_LIMIT_IPV6_PREFIX', 64, 1, 128),
    },
    trustProxy: trustProxy(env, 'TRUST_PROXY'),
    statsCacheTtlMs: int(env, 'STATS_CACHE_TTL_MS', 5_000, 0, 3_600_000),
    authCacheTtlMs: int(env, 'AUTH_CACHE_TTL_MS', 0, 0, 3_600_000),
    metricsToken: read(env, 'METRICS_TOKEN'),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    workers: workers(env, 'WORKERS', availableParallelism()),
    instanceName: read(env, 'INSTANCE_NAME'),
    amqpUrl: url(env, 'AMQP_URL', ['amqp:', 'amqps:']),
    events: {
      exchange: exchangeName(env, 'AMQP_EXCHANGE', 'task-api.events'),
      batchSize: int(env, 'EVENTS_BATCH_SIZE', 100, 1, 10_000),
      pollIntervalMs: int(env, 'EVENTS_POLL_INTERVAL_MS', 1_000, 10, 600_000),
      retentionHours: int(env, 'EVENTS_RETENTION_HOURS', 72, 1, 24 * 365),
    },
    firstAdmin: firstAdmin(env),
    pgBinDir: read(env, 'PG_BIN_DIR'),
  };
}
