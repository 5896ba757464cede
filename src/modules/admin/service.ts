import type { ReadRouter } from '../../db/read-router.js';
import type { AdminRepository } from './repository.js';
import type { Stats } from './schemas.js';

/**
 * Statistics may be a few seconds old (`statsCacheTtlMs`, per instance; 0 turns the cache off);
 * access decisions never are.
 */
export function createAdminService(reads: ReadRouter<AdminRepository>, { statsCacheTtlMs }: { statsCacheTtlMs: number }) {
  let cached: { value: Stats; expires: number } | undefined;
  let pending: Promise<Stats> | undefined;
  return {
    async stats(readerId: number): Promise<Stats> {
      if (cached && cached.expires > Date.now()) return cached.value;
      // Concurrent misses share one query (routed for the admin whose miss started it).
      pending ??= reads
        .run(readerId, (statistics) => statistics.stats())
        .finally(() => {
          pending = undefined;
        });
      const value = await pending;
      if (statsCacheTtlMs > 0) cached = { value, expires: Date.now() + statsCacheTtlMs };
      return value;
    },
  };
}
