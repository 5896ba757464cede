import type { Redis } from 'ioredis';
import { withTimeout } from '../lib/timeout.js';
import { type Lsn, UNREACHABLE_LSN } from './replica-monitor.js';

/**
 * Read-your-writes: for each user, the primary's WAL position after their latest write. A replica
 * may serve that user's reads only once it has replayed up to that position. Marks expire after
 * `ttlMs` (longer than any lag a replica may have and still serve reads), so they stay few.
 *
 * Marks live in this process and, with Redis, in Redis too, so that another instance knows them.
 * A mark that cannot be read (Redis failing) is treated as unreachable: the user's reads go to the
 * primary, never to a replica that might be stale.
 */
export interface WriteMarks {
  /** `lsn` undefined: the write's position is unknown, so the user reads from the primary until the mark expires. */
  record(userId: number, lsn: Lsn | undefined): Promise<void>;
  /** The user's mark; undefined when none is current. */
  get(userId: number): Promise<Lsn | undefined>;
  close(): void;
}

export interface WriteMarksOptions {
  ttlMs: number;
  redis?: Redis | undefined;
  keyPrefix: string;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** Redis answers in far less; a Redis that hangs must not hold reads up for long. */
const REDIS_TIMEOUT_MS = 500;

// Keeps the larger of the stored and the new position (two writes by one user may finish in either
// order, on two instances), and renews the expiry. Positions are fixed-width hex, so they order as text.
const KEEP_MAX_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

const toHex = (lsn: Lsn) => lsn.toString(16).padStart(16, '0');

type RedisWithKeepMax = Redis & { taskApiKeepMaxLsn(key: string, lsn: string, ttlMs: number): Promise<number> };

export function createWriteMarks(options: WriteMarksOptions): WriteMarks {
  const { ttlMs, keyPrefix, log } = options;
  const local = new Map<number, { lsn: Lsn; expires: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [userId, mark] of local) if (mark.expires <= now) local.delete(userId);
  }, ttlMs);
  sweep.unref();

  const redis = options.redis as RedisWithKeepMax | undefined;
  if (redis && typeof redis.taskApiKeepMaxLsn !== 'function') {
    redis.defineCommand('taskApiKeepMaxLsn', { numberOfKeys: 1, lua: KEEP_MAX_SCRIPT });
  }
  const key = (userId: number) => `${keyPrefix}write-lsn:${userId}`;
  let redisFailing = false;
  const redisFailed = (err: unknown) => {
    if (!redisFailing) {
      log.warn(
        { err: { message: (err as Error).message } },
        'write marks unavailable in Redis: reads after writes go to the primary',
      );
    }
    redisFailing = true;
  };
  const redisWorked = () => {
    if (redisFailing) log.info({}, 'write marks reachable in Redis again');
    redisFailing = false;
  };

  return {
    async record(userId, lsn) {
      const position = lsn ?? UNREACHABLE_LSN;
      const current = local.get(userId);
      const now = Date.now();
      local.set(userId, {
        lsn: current && current.expires > now && current.lsn > position ? current.lsn : position,
        expires: now + ttlMs,
      });
      if (!redis) return;
      try {
        await withTimeout(redis.taskApiKeepMaxLsn(key(userId), toHex(position), ttlMs), REDIS_TIMEOUT_MS, 'Redis');
        redisWorked();
      } catch (err) {
        // This instance still knows the mark; another instance may not until Redis returns.
        redisFailed(err);
      }
    },

    async get(userId) {
      const mark = local.get(userId);
      const mine = mark && mark.expires > Date.now() ? mark.lsn : undefined;
      if (!redis) return mine;
      let shared: Lsn | undefined;
      try {
        const stored = await withTimeout(redis.get(key(userId)), REDIS_TIMEOUT_MS, 'Redis');
        redisWorked();
        shared = stored ? BigInt(`0x${stored}`) : undefined;
      } catch (err) {
        redisFailed(err);
        return UNREACHABLE_LSN;
      }
      if (mine === undefined) return shared;
      if (shared === undefined) return mine;
      return mine > shared ? mine : shared;
    },

    close() {
      clearInterval(sweep);
    },
  };
}
