import { availableParallelism } from 'node:os';
import path from 'node:path';
import { type Static, Type } from 'typebox';
import {
  ConfigError,
  checkedInteger,
  custom,
  type EnvFileLayout,
  flag,
  integer,
  oneOf,
  optionalText,
  rawText,
  secret,
  sectionTitle,
  text,
  together,
  url,
  urlList,
} from './variables.js';

/**
 * Every variable task-api reads, once: its place in the configuration object, its default and
 * bounds, and how .env.example documents it (`group` names the section, in ENV_FILE's order).
 * Rules between variables are in `checkAcross`.
 */

const NODE_ENVS = ['development', 'production', 'test'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MIN_SECRET_BYTES = 32;
const POSTGRES = ['postgres:', 'postgresql:'];

const ADDRESS_OR_CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)(\/\d{1,3})?$/;

/** Fastify's trustProxy: false, a hop count, or the addresses/CIDRs of trusted proxies. */
function trustProxy(raw: string | undefined, name: string): boolean | number | string[] {
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

function origins(raw: string | undefined, name: string): string[] | '*' {
  if (raw === undefined || raw === '*') return '*';
  const list = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of list) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(
        `${name} must be a comma-separated list of origins such as https://app.example.com (got "${origin}")`,
      );
    }
    if (parsed.origin !== origin) throw new ConfigError(`${name}: "${origin}" is not an origin; write it as "${parsed.origin}"`);
  }
  return list;
}

/** AMQP exchange names: letters, digits, hyphen, underscore, period and colon, at most 255 bytes; not amq.*. */
function exchangeName(fallback: string) {
  return (raw: string | undefined, name: string): string => {
    const value = raw ?? fallback;
    if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(value) || value.startsWith('amq.')) {
      throw new ConfigError(
        `${name} must be 1 to 255 letters, digits, '-', '_', '.' or ':' and must not start with "amq." (got "${value}")`,
      );
    }
    return value;
  };
}

/** PUBLIC_URL: an absolute http(s) URL without query or fragment, kept without a trailing slash. */
function publicUrl(raw: string | undefined, name: string): string | undefined {
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http:// or https:// URL such as https://tasks.example.com`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL (got scheme "${parsed.protocol}")`);
  }
  if (parsed.search !== '' || parsed.hash !== '' || raw.includes('?') || raw.includes('#')) {
    throw new ConfigError(`${name} must not have a query or a fragment`);
  }
  if (parsed.username !== '' || parsed.password !== '') throw new ConfigError(`${name} must not hold credentials`);
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
}

const DEFAULT_MAIL_FROM = 'task-api <no-reply@localhost>';

/** MAIL_FROM: an address, or a display name and an address in angle brackets; one line. */
function mailFrom(raw: string | undefined, name: string): string {
  const value = raw ?? DEFAULT_MAIL_FROM;
  const address = /<([^<>\s]+)>$/.exec(value)?.[1] ?? value;
  if (/[\r\n]/.test(value) || !/^[^@\s<>]+@[^@\s<>]+$/.test(address)) {
    throw new ConfigError(`${name} must be an address such as "task-api <no-reply@example.com>" (got "${value}")`);
  }
  return value;
}

export const ConfigSchema = Type.Object({
  nodeEnv: oneOf('NODE_ENV', NODE_ENVS, 'development', {
    group: 'runtime',
    commented: true,
    doc: [
      'development (default) | production | test. production requires JWT_SECRET and PASSWORD_PEPPER.',
      'NODE_ENV and HOST are left unset here so that, in a .env given to `docker run --env-file`, the',
      "image's NODE_ENV=production and HOST=0.0.0.0 apply.",
    ],
  }),
  host: text('HOST', '127.0.0.1', { group: 'runtime', commented: true }),
  port: integer('PORT', 8000, [0, 65535], { group: 'runtime' }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info', { group: 'runtime' }),

  /** Unset: the server runs its own embedded PostgreSQL under `embeddedPgDir` (see AppConfig). */
  databaseUrl: url('DATABASE_URL', POSTGRES, {
    group: 'database',
    example: 'postgres://task_api:change-me@127.0.0.1:5432/task_api',
    doc: [
      'Unset: an embedded PostgreSQL runs under DATA_DIR/postgres (zero setup).',
      'Set: that server is used and nothing is embedded. Production should set it.',
    ],
  }),
  dbPoolMax: integer('DB_POOL_MAX', 10, [1, 1000], { group: 'database' }),
  /**
   * Streaming replicas of `databaseUrl` for reads that tolerate lag (empty: none, and no routing
   * at all). A replica lagging past `maxLagMs`, down or promoted is skipped.
   */
  replicas: Type.Object({
    urls: urlList('DATABASE_REPLICA_URLS', POSTGRES, {
      group: 'database',
      example: 'postgres://task_api:change-me@replica1:5432/task_api,postgres://task_api:change-me@replica2:5432/task_api',
      doc: [
        'Streaming replicas of DATABASE_URL for reads that tolerate lag (task lists, a task, statistics,',
        "user lists), comma-separated. A user's reads stay on the primary until a replica has replayed",
        "that user's writes; logins are always checked on the primary. Unset: no replicas, no routing.",
      ],
    }),
    maxLagMs: integer('REPLICA_MAX_LAG_MS', 1_000, [10, 3_600_000], {
      group: 'database',
      doc: ['A replica further behind than this is skipped (reads go to other replicas or the primary).'],
    }),
    checkIntervalMs: integer('REPLICA_CHECK_INTERVAL_MS', 250, [10, 60_000], {
      group: 'database',
      doc: ["How often each replica's health and replay position are checked."],
    }),
  }),
  dataDir: custom('DATA_DIR', Type.String({ default: 'data' }), (raw) => path.resolve(raw ?? 'data'), {
    group: 'database',
    sample: './data',
    doc: ['Where generated secrets and the embedded database live.'],
  }),
  /** Unset: DATA_DIR/postgres (filled in by checkAcross). */
  embeddedPgDir: custom('EMBEDDED_PG_DIR', Type.String(), (raw) => (raw === undefined ? '' : path.resolve(raw)), {
    group: 'database',
    example: './data/postgres',
  }),

  /** Unset outside production: generated once and kept under `dataDir` (see secrets.ts). */
  jwtSecret: secret('JWT_SECRET', MIN_SECRET_BYTES, { group: 'secrets', example: '' }),
  passwordPepper: secret('PASSWORD_PEPPER', MIN_SECRET_BYTES, {
    group: 'secrets',
    example: '',
    doc: ['PASSWORD_PEPPER is mixed into every password hash: changing it invalidates every password.'],
  }),

  accessTokenExpireMinutes: integer('ACCESS_TOKEN_EXPIRE_MINUTES', 30, [1, 24 * 60], { group: 'auth' }),
  /** Clock difference tolerated on a token's iat, exp and nbf, and on top of its lifetime. */
  jwtClockSkewSeconds: integer('JWT_CLOCK_SKEW_SECONDS', 60, [0, 600], {
    group: 'auth',
    doc: ["0..600: clock difference tolerated on a token's iat/exp/nbf (and added to its lifetime)."],
  }),
  refreshTokenExpireDays: integer('REFRESH_TOKEN_EXPIRE_DAYS', 7, [1, 365], { group: 'auth' }),
  bcryptCost: integer('BCRYPT_COST', 12, [4, 31], {
    group: 'auth',
    doc: ['4..31; at least 10 in production. Each +1 doubles the cost of a login.'],
  }),
  jwtIssuer: text('JWT_ISSUER', 'task-api', { group: 'auth' }),
  jwtAudience: text('JWT_AUDIENCE', 'task-api', { group: 'auth' }),

  corsOrigins: custom('CORS_ORIGINS', Type.Union([Type.Array(Type.String()), Type.Literal('*')], { default: '*' }), origins, {
    group: 'http',
    example: 'https://app.example.com,https://admin.example.com',
    doc: ['Comma-separated origins allowed by CORS; unset or * allows any origin (never with credentials).'],
  }),
  bodyLimitBytes: integer('BODY_LIMIT_BYTES', 64 * 1024, [1024, 10 * 1024 * 1024], { group: 'http' }),

  /** Created at start when no user has this username (FIRST_ADMIN_*). */
  firstAdmin: together(
    Type.Object({
      username: custom('FIRST_ADMIN_USERNAME', Type.String(), (raw) => raw ?? '', { group: 'firstAdmin', example: '' }),
      email: custom('FIRST_ADMIN_EMAIL', Type.String(), (raw) => raw ?? '', { group: 'firstAdmin', example: '' }),
      password: rawText('FIRST_ADMIN_PASSWORD', { group: 'firstAdmin', example: '' }),
    }),
  ),

  /** Unset: shared state (rate limits) lives in this process only. */
  redisUrl: url('REDIS_URL', ['redis:', 'rediss:'], {
    group: 'redis',
    example: 'redis://127.0.0.1:6379',
    doc: ['Shared rate-limit counters across instances. Unset: per-instance memory.'],
  }),
  redisKeyPrefix: text('REDIS_KEY_PREFIX', 'task-api:', { group: 'redis' }),

  rateLimit: Type.Object({
    enabled: flag('RATE_LIMIT_ENABLED', true, { group: 'rateLimits' }),
    windowMs: integer('RATE_LIMIT_WINDOW_MS', 60_000, [1000, 86_400_000], { group: 'rateLimits' }),
    /** Requests per window per user (per address when anonymous). */
    max: integer('RATE_LIMIT_MAX', 600, [1, 1_000_000], {
      group: 'rateLimits',
      doc: ['Per user (by token), or per address when anonymous.'],
    }),
    /** Requests per window per address on register, login and refresh. */
    authMax: integer('RATE_LIMIT_AUTH_MAX', 30, [1, 1_000_000], {
      group: 'rateLimits',
      doc: ['Register, login and refresh, per address.'],
    }),
    /** Failed password attempts (logins, current_password) per window per account and client address. */
    loginFailureMax: integer('LOGIN_FAILURE_MAX', 10, [1, 1_000_000], {
      group: 'rateLimits',
      doc: [
        'Failed password attempts (login, current_password), counted before the password is checked and',
        'given back when it is right: per account and client address, then per account from all addresses.',
      ],
    }),
    loginFailureWindowMs: integer('LOGIN_FAILURE_WINDOW_MS', 300_000, [1000, 86_400_000], { group: 'rateLimits' }),
    /** Failed password attempts per window per account from all addresses: slows a distributed guess. */
    loginFailureAccountMax: integer('LOGIN_FAILURE_ACCOUNT_MAX', 100, [1, 1_000_000], { group: 'rateLimits' }),
    loginFailureAccountWindowMs: integer('LOGIN_FAILURE_ACCOUNT_WINDOW_MS', 3_600_000, [1000, 86_400_000], {
      group: 'rateLimits',
    }),
    /** Rate limits count an IPv6 client by its network of this prefix length (IPv4 by its address). */
    ipv6Prefix: integer('RATE_LIMIT_IPV6_PREFIX', 64, [1, 128], {
      group: 'rateLimits',
      doc: ['Every budget counts an IPv6 client by its network of this prefix length (IPv4-mapped IPv6 is IPv4).'],
    }),
  }),
  /** Fastify's trustProxy: false, a hop count, or the addresses/CIDRs of trusted proxies. */
  trustProxy: custom(
    'TRUST_PROXY',
    Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.Array(Type.String())], { default: false }),
    trustProxy,
    {
      group: 'rateLimits',
      example: '',
      doc: [
        'Proxies whose X-Forwarded-For is believed: addresses/CIDRs, comma-separated, or a hop count.',
        "Unset: the socket's address is the client's. Behind one reverse proxy that is the only way in",
        "(compose.yaml sets 1 for its nginx): TRUST_PROXY=1, or the proxy's address, e.g. 127.0.0.1.",
      ],
    },
  ),

  statsCacheTtlMs: integer('STATS_CACHE_TTL_MS', 5_000, [0, 3_600_000], { group: 'observability' }),
  metricsToken: optionalText('METRICS_TOKEN', {
    group: 'observability',
    example: '',
    doc: ['Required as a bearer token by /metrics when set. With NODE_ENV=production and no token, /metrics is not served.'],
  }),
  /** Adds an X-Instance header naming this instance (for checking load balancing). */
  instanceName: optionalText('INSTANCE_NAME', {
    group: 'observability',
    example: '',
    doc: ['Adds X-Instance to responses (to see load balancing).'],
  }),

  requestTimeoutMs: integer('REQUEST_TIMEOUT_MS', 30_000, [1000, 600_000], { group: 'timeouts' }),
  headersTimeoutMs: integer('HEADERS_TIMEOUT_MS', 10_000, [1000, 600_000], { group: 'timeouts' }),
  keepAliveTimeoutMs: integer('KEEP_ALIVE_TIMEOUT_MS', 75_000, [1000, 600_000], {
    group: 'timeouts',
    doc: ["Longer than the proxy's keep-alive (nginx: 60 s)."],
  }),
  dbStatementTimeoutMs: integer('DB_STATEMENT_TIMEOUT_MS', 5_000, [100, 600_000], { group: 'timeouts' }),
  dbConnectionTimeoutMs: integer('DB_CONNECTION_TIMEOUT_MS', 3_000, [100, 60_000], { group: 'timeouts' }),
  shutdownTimeoutMs: integer('SHUTDOWN_TIMEOUT_MS', 10_000, [100, 600_000], { group: 'timeouts' }),
  workers: custom(
    'WORKERS',
    Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], { default: 1 }),
    (raw, name) => (raw === 'auto' ? availableParallelism() : raw === undefined ? 1 : checkedInteger(name, raw, 1, 256)),
    { group: 'timeouts', doc: ['Worker processes on one port; auto = one per CPU.'] },
  ),

  /**
   * How long a login's check may be served from memory; 0 (the default): never. Opt-in, because
   * another instance hears of a logout through LISTEN/NOTIFY, a moment after it commits, not at once.
   */
  authCacheTtlMs: integer('AUTH_CACHE_TTL_MS', 0, [0, 3_600_000], {
    group: 'loginCache',
    doc: [
      "Serve a login's check from memory for up to this long (at most a minute in effect: the check it",
      "skips advances the session's last_used_at); every change invalidates it through",
      'LISTEN/NOTIFY, which reaches other instances a moment after the commit rather than at once.',
      '0 (default): ask the database on every request.',
    ],
  }),

  /**
   * Unset: nothing is published to RabbitMQ (the outbox is still written for webhooks, unless they
   * are off). Set: every change is recorded in the outbox in its own transaction and published to
   * `exchange` (see modules/events).
   */
  amqpUrl: url('AMQP_URL', ['amqp:', 'amqps:'], { group: 'events', example: 'amqp://guest:guest@127.0.0.1:5672' }),
  events: Type.Object({
    /** A durable topic exchange, declared by the publisher. */
    exchange: custom('AMQP_EXCHANGE', Type.String({ default: 'task-api.events' }), exchangeName('task-api.events'), {
      group: 'events',
    }),
    /** Outbox rows claimed and published per round. */
    batchSize: integer('EVENTS_BATCH_SIZE', 100, [1, 10_000], { group: 'events' }),
    /** How often the publisher looks for rows written by other instances (its own writes wake it at once). */
    pollIntervalMs: integer('EVENTS_POLL_INTERVAL_MS', 1_000, [10, 600_000], { group: 'events' }),
    /** Sent rows are kept this long, then pruned. */
    retentionHours: integer('EVENTS_RETENTION_HOURS', 72, [1, 24 * 365], { group: 'events' }),
  }),

  /** Signed webhooks (modules/webhooks), fed from the outbox by background workers. */
  webhooks: Type.Object({
    enabled: flag('WEBHOOKS_ENABLED', true, {
      group: 'webhooks',
      doc: ['false: no webhook routes, no feed or delivery workers; events are then recorded only with AMQP_URL set.'],
    }),
    /** Attempts per delivery before it is given up as failed. */
    maxAttempts: integer('WEBHOOK_MAX_ATTEMPTS', 8, [1, 50], {
      group: 'webhooks',
      doc: ['Attempts per delivery (the first and its retries) before it counts as failed.'],
    }),
    /** The first retry waits about this long; each next one twice as long (at most 12 hours), with jitter. */
    retryBaseMs: integer('WEBHOOK_RETRY_BASE_MS', 600_000, [10, 3_600_000], {
      group: 'webhooks',
      doc: [
        'The wait before the first retry; each next one doubles (at most 12 h), a random half to all of it:',
        'the defaults spread 8 attempts over about a day.',
      ],
    }),
    /** One attempt, connection to the end of the response, takes at most this long. */
    timeoutMs: integer('WEBHOOK_TIMEOUT_MS', 10_000, [100, 60_000], { group: 'webhooks' }),
    disableAfterFailures: integer('WEBHOOK_DISABLE_AFTER_FAILURES', 5, [1, 1_000], {
      group: 'webhooks',
      doc: [
        'A webhook whose deliveries failed (every attempt) this many times in a row is disabled, with a webhook.disabled event.',
      ],
    }),
    /** How often the workers look for other instances' events and for due retries (this instance's commits wake them). */
    pollIntervalMs: integer('WEBHOOK_POLL_INTERVAL_MS', 1_000, [10, 600_000], { group: 'webhooks' }),
    allowPrivateTargets: flag('WEBHOOK_ALLOW_PRIVATE_TARGETS', false, {
      group: 'webhooks',
      doc: [
        'true (tests and local development only; refused with NODE_ENV=production): deliver to loopback and',
        'private addresses too, so a receiver can run on the same machine. Metadata addresses stay refused.',
      ],
    }),
  }),

  /** Live updates over Server-Sent Events (modules/stream), fed from the outbox in every instance. */
  stream: Type.Object({
    enabled: flag('STREAM_ENABLED', true, {
      group: 'stream',
      doc: ['false: no stream routes and no stream feed; events are then recorded only for webhooks', 'or AMQP_URL.'],
    }),
    maxPerUser: integer('STREAM_MAX_PER_USER', 5, [1, 1_000], {
      group: 'stream',
      doc: ['Open streams one user may hold on one instance (each worker of WORKERS counts apart); more: 429.'],
    }),
    maxPerInstance: integer('STREAM_MAX_PER_INSTANCE', 2_000, [1, 100_000], {
      group: 'stream',
      doc: [
        'Open streams one instance (one worker) holds at most; more: 503 with Retry-After',
        '(another instance may have room).',
      ],
    }),
    heartbeatMs: integer('STREAM_HEARTBEAT_MS', 15_000, [100, 300_000], {
      group: 'stream',
      doc: ['A comment line on every open stream this often, so proxies (deploy/nginx.conf: 60 s)', 'do not close idle ones.'],
    }),
    pollIntervalMs: integer('STREAM_POLL_INTERVAL_MS', 1_000, [10, 600_000], {
      group: 'stream',
      doc: ['How often the feed reads the outbox without a wake (commits on any instance wake it through NOTIFY).'],
    }),
    recheckMs: integer('STREAM_RECHECK_MS', 30_000, [100, 3_600_000], {
      group: 'stream',
      doc: [
        "Every open stream's login is checked again this often, in one query (a logout or deactivation",
        'announced on the auth channel ends its streams at once; this is the safety net).',
      ],
    }),
  }),

  /**
   * Outgoing mail (modules/mail). Unset outside production: mails are written to DATA_DIR/mail/ as
   * .eml files and to the log. Unset in production: the email features are off (their routes
   * answer 503), so a deployment without a mail server keeps starting.
   */
  smtpUrl: url('SMTP_URL', ['smtp:', 'smtps:'], {
    group: 'mail',
    example: 'smtps://user:password@smtp.example.com:465',
    doc: [
      'smtp:// (STARTTLS when offered) or smtps:// (TLS from the start), with credentials if needed.',
      'Unset outside production: mails go to DATA_DIR/mail/*.eml and the log (development only).',
      'Unset in production: email features are off; POST /auth/password-reset answers 503.',
    ],
  }),
  mailFrom: custom('MAIL_FROM', Type.String({ default: DEFAULT_MAIL_FROM }), mailFrom, {
    group: 'mail',
    doc: ['The From of every mail: an address, or a name and an address in angle brackets.'],
  }),
  /** Unset outside production: http://127.0.0.1:PORT (filled in by checkAcross). */
  publicUrl: custom('PUBLIC_URL', Type.Optional(Type.String({ format: 'uri' })), publicUrl, {
    group: 'mail',
    example: 'https://tasks.example.com',
    doc: [
      'Where links in mails point (never at the Host of a request): an http(s) URL, no query or fragment.',
      'Required in production when SMTP_URL is set; unset outside production: http://127.0.0.1:PORT.',
    ],
  }),
  mail: Type.Object({
    /** A mail that failed this many times is dropped (and logged). */
    maxAttempts: integer('MAIL_MAX_ATTEMPTS', 8, [1, 100], {
      group: 'mail',
      doc: ['Sending attempts per mail before it is dropped (logged), with exponential backoff and jitter.'],
    }),
    /** The first retry waits about this long; each next one twice as long (at most an hour). */
    retryBaseMs: integer('MAIL_RETRY_BASE_MS', 30_000, [10, 3_600_000], { group: 'mail' }),
    /** How often the sender looks for mails other instances queued and retries that are due. */
    pollIntervalMs: integer('MAIL_POLL_INTERVAL_MS', 5_000, [10, 600_000], { group: 'mail' }),
  }),
  passwordReset: Type.Object({
    tokenMinutes: integer('PASSWORD_RESET_TOKEN_MINUTES', 30, [5, 24 * 60], {
      group: 'mail',
      doc: ['How long a password reset token (the link in the mail) is valid.'],
    }),
    /** Reset requests per window per client address. */
    addressMax: integer('PASSWORD_RESET_ADDRESS_MAX', 10, [1, 1_000_000], {
      group: 'mail',
      doc: ['POST /auth/password-reset per client address, and per target email, per PASSWORD_RESET_WINDOW_MS.'],
    }),
    /** Reset requests per window per target email (lower-cased), whether an account has it or not. */
    emailMax: integer('PASSWORD_RESET_EMAIL_MAX', 3, [1, 1_000_000], { group: 'mail' }),
    windowMs: integer('PASSWORD_RESET_WINDOW_MS', 3_600_000, [1000, 86_400_000], { group: 'mail' }),
  }),
  emailVerification: Type.Object({
    /** Unverified accounts may log in and manage themselves, nothing else (403). Needs mail. */
    required: flag('REQUIRE_VERIFIED_EMAIL', false, {
      group: 'mail',
      doc: [
        'true: an account whose email is not verified can log in, verify, resend the link, read and change',
        'its profile, see and end its logins, and log out; every other route answers 403 saying why.',
        'Needs mail (refused in production without SMTP_URL).',
      ],
    }),
    tokenHours: integer('EMAIL_VERIFICATION_TOKEN_HOURS', 24, [1, 24 * 30], {
      group: 'mail',
      doc: ['How long the link of a verification mail (registration, email change, resend) is valid.'],
    }),
    /** Resends per window per user. */
    resendMax: integer('EMAIL_VERIFICATION_RESEND_MAX', 3, [1, 1_000_000], {
      group: 'mail',
      doc: ['POST /auth/verify-email/resend per user per EMAIL_VERIFICATION_RESEND_WINDOW_MS.'],
    }),
    resendWindowMs: integer('EMAIL_VERIFICATION_RESEND_WINDOW_MS', 3_600_000, [1000, 86_400_000], { group: 'mail' }),
  }),

  /** The only directory db:backup and db:restore take pg_dump and pg_restore from (unset: PATH and the usual places). */
  pgBinDir: optionalText('PG_BIN_DIR', {
    group: 'backups',
    example: '/usr/lib/postgresql/17/bin',
    doc: [
      'The only directory pg_dump and pg_restore are taken from. Unset: PATH, /usr/lib/postgresql/N/bin,',
      "/usr/pgsql-N/bin and Homebrew's postgresql@N, the newest version at least the server's.",
    ],
  }),
});

/** The rules between variables, and the defaults one takes from another. */
export function checkAcross(config: Static<typeof ConfigSchema>): void {
  if (config.nodeEnv === 'production') {
    for (const [name, value] of [
      ['JWT_SECRET', config.jwtSecret],
      ['PASSWORD_PEPPER', config.passwordPepper],
    ] as const) {
      if (value === undefined)
        throw new ConfigError(`${name} is required when NODE_ENV=production (at least ${MIN_SECRET_BYTES} bytes)`);
    }
    if (config.bcryptCost < 10) {
      throw new ConfigError(`BCRYPT_COST must be at least 10 when NODE_ENV=production (got ${config.bcryptCost})`);
    }
  }
  if (config.nodeEnv === 'production' && config.webhooks.allowPrivateTargets) {
    throw new ConfigError(
      'WEBHOOK_ALLOW_PRIVATE_TARGETS=true is refused when NODE_ENV=production (it opens the network inside to webhooks)',
    );
  }
  if (config.nodeEnv === 'production' && config.smtpUrl !== undefined && config.publicUrl === undefined) {
    throw new ConfigError('PUBLIC_URL is required when NODE_ENV=production and SMTP_URL is set (the links in mails)');
  }
  if (config.emailVerification.required && config.nodeEnv === 'production' && config.smtpUrl === undefined) {
    throw new ConfigError('REQUIRE_VERIFIED_EMAIL=true needs SMTP_URL when NODE_ENV=production (nobody could verify)');
  }
  // Outside production the links point at this server itself; in production without SMTP_URL mail is off.
  if (config.publicUrl === undefined && config.nodeEnv !== 'production') config.publicUrl = `http://127.0.0.1:${config.port}`;
  if (config.replicas.urls.length > 0 && config.databaseUrl === undefined) {
    throw new ConfigError('DATABASE_REPLICA_URLS needs DATABASE_URL (the primary they replicate)');
  }
  if (config.embeddedPgDir === '') config.embeddedPgDir = path.join(config.dataDir, 'postgres');
}

/** .env.example's sections, in order, and the text around them. */
export const ENV_FILE: EnvFileLayout = {
  header: [
    'task-api configuration. Copy to .env (read at start when present) or set in the environment.',
    'Every value is validated at start; a bad one stops the process with one line naming it.',
    'Generated from src/config/schema.ts by `npm run env:example`: edit the schema, not this file.',
  ],
  groups: [
    { id: 'runtime', title: 'Runtime' },
    { id: 'database', title: 'Database' },
    {
      id: 'secrets',
      title: 'Secrets (production MUST set both, at least 32 bytes each)',
      intro: [
        'Unset outside production: generated once into DATA_DIR/secrets.json, with a warning.',
        `Generate with: node -e "console.log(require('crypto').randomBytes(48).toString('base64url'))"`,
      ],
    },
    { id: 'auth', title: 'Authentication' },
    { id: 'http', title: 'HTTP' },
    {
      id: 'firstAdmin',
      title: 'First admin (optional; all three or none)',
      intro: [
        'Created at start when no user has this username; never changed afterwards. There are no default',
        'credentials. Or use: npm run create-admin -- --username U --email E --password-stdin',
      ],
    },
    { id: 'redis', title: 'Redis (optional)' },
    { id: 'rateLimits', title: 'Rate limits' },
    { id: 'observability', title: 'Caching, observability' },
    { id: 'timeouts', title: 'Timeouts, shutdown, workers' },
    { id: 'loginCache', title: 'Login cache (opt-in)' },
    {
      id: 'events',
      title: 'Events (RabbitMQ, opt-in)',
      intro: ['Publish every task and user change to a topic exchange (README, "Events (RabbitMQ)").'],
    },
    {
      id: 'webhooks',
      title: 'Webhooks',
      intro: ['Signed deliveries of the same events to URLs users register (README, "Integrations").'],
    },
    {
      id: 'stream',
      title: 'Live updates (Server-Sent Events)',
      intro: ['GET /api/v1/stream: the same events, live, to logged-in clients (README, "Integrations").'],
    },
    {
      id: 'mail',
      title: 'Mail (password reset, email verification)',
      intro: ['Mail goes out from a background queue, never on the request path (README, "Password reset").'],
    },
    { id: 'backups', title: 'Backups (npm run db:backup / db:restore)' },
  ],
  footer: [
    sectionTitle('docker compose only (compose.yaml reads these; task-api itself does not)'),
    '# Required by compose: the password of the task_api role in the postgres service, used on its first',
    "# start (changing it later does not change the database's). It goes into a URL: keep it URL-safe, e.g.",
    `# node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`,
    '# compose also requires JWT_SECRET and PASSWORD_PEPPER above, and sets NODE_ENV, HOST, PORT,',
    '# DATABASE_URL, REDIS_URL and TRUST_PROXY itself for the replicas.',
    '# POSTGRES_PASSWORD=',
    '# The host port nginx publishes.',
    'HTTP_PORT=8000',
  ],
};
