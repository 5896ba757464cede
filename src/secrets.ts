import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config, ResolvedConfig } from './config.js';

interface StoredSecrets {
  jwtSecret: string;
  passwordPepper: string;
}

/**
 * Outside production a missing JWT_SECRET or PASSWORD_PEPPER is generated once and kept in
 * `<DATA_DIR>/secrets.json` (mode 0600), so tokens and password hashes survive a restart.
 * Production never gets here without both set: loadConfig refuses to start.
 */
export async function resolveSecrets(config: Config, warn: (msg: string) => void): Promise<ResolvedConfig> {
  if (config.jwtSecret && config.passwordPepper) {
    return { ...config, jwtSecret: config.jwtSecret, passwordPepper: config.passwordPepper };
  }
  const file = path.join(config.dataDir, 'secrets.json');
  let stored: StoredSecrets;
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as StoredSecrets;
  } catch {
    stored = { jwtSecret: randomBytes(48).toString('base64url'), passwordPepper: randomBytes(48).toString('base64url') };
    // 0755: when run as root, the embedded PostgreSQL runs as `postgres` and must reach its folder inside; the secrets file itself is 0600.
    await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
    await writeFile(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch(
      async (err: NodeJS.ErrnoException) => {
        // Another process created it first: use theirs.
        if (err.code !== 'EEXIST') throw err;
        stored = JSON.parse(await readFile(file, 'utf8')) as StoredSecrets;
      },
    );
  }
  const missing = [!config.jwtSecret && 'JWT_SECRET', !config.passwordPepper && 'PASSWORD_PEPPER'].filter(Boolean);
  warn(`${missing.join(' and ')} not set: using the generated value kept in ${file}. Set them explicitly in production.`);
  return {
    ...config,
    jwtSecret: config.jwtSecret ?? stored.jwtSecret,
    passwordPepper: config.passwordPepper ?? stored.passwordPepper,
  };
}
