import { type Config, ConfigError, loadConfig } from '../config.js';

/** Reads `.env` in the working directory into the environment, when there is one; variables already set win. */
export function loadEnvFile(): void {
  try {
    process.loadEnvFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read .env: ${(err as Error).message}`);
  }
}

/**
 * For a process or command: reads `.env` (when present) and the environment into a validated
 * configuration. A bad value ends the process with one line, `<program>: invalid configuration: …`.
 */
export function loadConfigOrExit(program: string): Config {
  try {
    loadEnvFile();
    return loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${program}: invalid configuration: ${err.message}`);
    process.exit(1);
  }
}
