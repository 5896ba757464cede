import { createRequire } from 'node:module';
import { type LoggerOptions, pino } from 'pino';
import type { Config } from './config.js';

/** Fields that must never reach a log line. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'body.password',
  'body.refresh_token',
  'body.current_password',
  'body.new_password',
  'body.token',
  'body.secret',
  'config.firstAdmin.password',
];

/** Query parameters that carry a credential (GET /stream?ticket=): masked wherever a URL is logged. */
const SECRET_QUERY = /([?&]ticket=)[^&#]*/gi;
export const maskedUrl = (url: string) => url.replace(SECRET_QUERY, '$1[redacted]');

/**
 * No log line of ours carries a URL (the request line names the route), but a request logged whole
 * (`{ req }`) would: its URL goes through maskedUrl.
 */
export const LOG_SERIALIZERS = {
  req: (req: { method?: string; url?: string; id?: string }) => ({
    method: req.method,
    url: req.url === undefined ? undefined : maskedUrl(req.url),
    id: req.id,
  }),
};

/** pino-pretty is a development dependency: readable logs in a development terminal when it is installed. */
function prettyTransport(config: Pick<Config, 'nodeEnv'>): LoggerOptions['transport'] {
  if (config.nodeEnv !== 'development' || !process.stdout.isTTY) return undefined;
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } };
  } catch {
    return undefined;
  }
}

export function createLogger(config: Pick<Config, 'logLevel' | 'nodeEnv'>) {
  const transport = prettyTransport(config);
  return pino({
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: LOG_SERIALIZERS,
    ...(transport ? { transport } : {}),
  });
}

/** Adapts pino to the small interface the database helpers log through. */
export function plainLog(logger: ReturnType<typeof createLogger>) {
  return {
    info: (msg: string) => logger.info(msg),
    warn: (msg: string) => logger.warn(msg),
    debug: (msg: string) => logger.debug(msg),
  };
}
