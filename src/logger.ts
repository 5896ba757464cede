import { pino } from 'pino';
import { REDACTED_PATHS } from './app.js';
import type { LogLevel } from './config.js';

export function createLogger(level: LogLevel) {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
}

/** Adapts pino to the small interface the database helpers log through. */
export function plainLog(logger: ReturnType<typeof createLogger>) {
  return {
    info: (msg: string) => logger.info(msg),
    warn: (msg: string) => logger.warn(msg),
    debug: (msg: string) => logger.debug(msg),
  };
}
