import { config as loadDotenv } from 'dotenv';
import { type Config, ConfigError, loadConfig } from '../config.js';

/**
 * For a process or command: reads `.env` (when present) and the environment into a validated
 * configuration. A bad value ends the process with one line, `<program>: invalid configuration: …`.
 */
export function loadConfigOrExit(program: string): Config {
  loadDotenv({ quiet: true });
  try {
    return loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${program}: invalid configuration: ${err.message}`);
    process.exit(1);
  }
}
