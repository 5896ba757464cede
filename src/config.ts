import type { Static } from 'typebox';
import { ConfigSchema, checkAcross, ENV_FILE } from './config/schema.js';
import { ConfigError, type Env, readConfig, renderEnvFile, variablesOf } from './config/variables.js';

/**
 * Configuration, read once from the environment and validated up front. Every variable is declared
 * once, in config/schema.ts; the type, the allow-list, the loader and .env.example come from there.
 * A bad value throws a ConfigError whose message is the one line the process prints before it exits.
 */
export { ConfigError };

export type Config = Static<typeof ConfigSchema>;

/** A config whose secrets are resolved (secrets.ts). */
export type ResolvedConfig = Config & { jwtSecret: string; passwordPepper: string };

/**
 * What buildApp needs: secrets resolved, and the database to use (DATABASE_URL, or the embedded
 * server's address once it has started: see db/connect.ts).
 */
export type AppConfig = ResolvedConfig & { databaseUrl: string };

/**
 * Every environment variable task-api reads. The loader reads only the schema's variables, so a new
 * variable cannot be read without being declared; the deployment files are checked against it.
 */
export const CONFIG_VARIABLES: readonly string[] = variablesOf(ConfigSchema).map((variable) => variable.name);

export function loadConfig(env: Env = process.env): Config {
  const config = readConfig(ConfigSchema, env);
  checkAcross(config);
  return config;
}

/** The text of .env.example (`npm run env:example` writes it; a test fails when the file is stale). */
export function envExample(): string {
  return renderEnvFile(ConfigSchema, ENV_FILE);
}
