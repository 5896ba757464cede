import { createHmac, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/bcrypt';

/**
 * bcrypt reads only the first 72 bytes of its input. Each password is first reduced with
 * HMAC-SHA-256 under a server-side pepper to 44 base64 characters, so every byte of a password up
 * to its 256 characters counts, no NUL reaches bcrypt, and a stolen database alone cannot be
 * attacked offline without the pepper. bcrypt runs on libuv's thread pool, off the event loop.
 *
 * @node-rs/bcrypt is pinned to 1.10.8: 2.0.0 is published for linux-x64-gnu only, which leaves
 * every other platform (including linux/arm64 containers) without a binary and `npm ci` without
 * a consistent lock file. The two versions share the Rust implementation; only the call shape differs.
 */
export function createPasswordHasher(options: { cost: number; pepper: string }) {
  const prehash = (password: string) => createHmac('sha256', options.pepper).update(password, 'utf8').digest('base64');
  // Verifying an unknown account against this costs what a wrong password costs.
  const dummyHash = hash(randomBytes(32).toString('base64'), options.cost);

  return {
    hash: (password: string) => hash(prehash(password), options.cost),
    verify: (password: string, hashed: string) => verify(prehash(password), hashed),
    async verifyDummy(password: string): Promise<false> {
      await verify(prehash(password), await dummyHash);
      return false;
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
