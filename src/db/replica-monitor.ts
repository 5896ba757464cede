import type pg from 'pg';
import { createDatabase, createPool, type Database, type PoolOptions } from './pool.js';

/** A WAL position (pg_lsn) as a number that orders like it. */
export type Lsn = bigint;

/** Above every real position: a mark no replica reaches (used when a write's position is unknown). */
export const UNREACHABLE_LSN: Lsn = 0xffff_ffff_ffff_ffffn;

/** pg_lsn's text form `X/Y` (two hexadecimal halves) as a number. */
export function parseLsn(text: string): Lsn {
  const [high, low] = text.split('/');
  if (!high || !low || !/^[0-9A-Fa-f]{1,8}$/.test(high) || !/^[0-9A-Fa-f]{1,8}$/.test(low)) {
    throw new Error(`not a pg_lsn: ${text}`);
  }
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export type ReplicaState = 'starting' | 'ok' | 'lagging' | 'down' | 'not_in_recovery';

export interface Replica {
  /** `replica-N`, N its position in DATABASE_REPLICA_URLS: hosts and credentials stay out of public reports. */
  name: string;
  pool: pg.Pool;
  db: Database;
  state: ReplicaState;
  /** What the replica had replayed at its last successful check (it only grows while it streams). */
  replayLsn: Lsn;
  lagMs: number;
  lagBytes: number;
  /** When the last successful check began (0: never). */
  checkedAt: number;
}

export interface MonitorOptions {
  primaryUrl: string;
  replicaUrls: string[];
  pool: PoolOptions;
  maxLagMs: number;
  checkIntervalMs: number;
  log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    debug(obj: object, msg: string): void;
  };
}

/** A replica serves reads when its last check found it well and that check is recent enough. */
export function servesReads(replica: Pick<Replica, 'state' | 'checkedAt'>, now: number, staleAfterMs: number): boolean {
  return replica.state === 'ok' && now - replica.checkedAt <= staleAfterMs;
}

/** A check that does not answer in this long counts as a failure. */
const CHECK_TIMEOUT_MS = 2_000;

interface Sample {
  at: number;
  lsn: Lsn;
}

/**
 * Watches each replica: every check interval it reads the primary's WAL position, then each
 * replica's replay position. A replica's lag is the age of the newest primary sample it has
 * replayed (0 once it has replayed the latest one): exact up to the check interval, and, unlike
 * `now() - pg_last_xact_replay_timestamp()`, not growing while the primary is idle.
 * A replica is skipped when it is down, promoted (no longer in recovery), lagging past the limit,
 * or not checked recently; it is used again as soon as a check finds it well.
 */
export class ReplicaMonitor {
  readonly replicas: Replica[];
  /** How old a replica's last good check may be for it to serve reads. */
  readonly staleAfterMs: number;
  private readonly primaryCheck: pg.Pool;
  private readonly checks: pg.Pool[];
  private samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private primaryFailing = false;

  constructor(private readonly options: MonitorOptions) {
    this.staleAfterMs = 2 * options.checkIntervalMs + CHECK_TIMEOUT_MS;
    const checkPool = (url: string) =>
      createPool(url, {
        max: 1,
        applicationName: 'task-api-replica-check',
        statementTimeoutMs: CHECK_TIMEOUT_MS,
        connectionTimeoutMs: CHECK_TIMEOUT_MS,
      });
    this.primaryCheck = checkPool(options.primaryUrl);
    this.checks = options.replicaUrls.map(checkPool);
    this.replicas = options.replicaUrls.map((url, i) => {
      const pool = createPool(url, { ...options.pool, readOnly: true });
      return {
        name: `replica-${i + 1}`,
        pool,
        db: createDatabase(pool),
        state: 'starting',
        replayLsn: 0n,
        lagMs: 0,
        lagBytes: 0,
        checkedAt: 0,
      };
    });
    // Connections lost while idle (a replica restarting) must not crash the process; checks report the state.
    for (const pool of [this.primaryCheck, ...this.checks, ...this.replicas.map((r) => r.pool)]) {
      pool.on('error', (err) => options.log.debug({ err: { message: err.message } }, 'idle replica or check connection lost'));
    }
  }

  /** Runs the first check (so routing starts from facts), then keeps checking in the background. */
  async start(): Promise<void> {
    await this.tick();
  }

  /** Replicas that may serve a read now. */
  healthy(now = Date.now()): Replica[] {
    return this.replicas.filter((r) => servesReads(r, now, this.staleAfterMs));
  }

  /** A read failed to reach the replica: skip it at once, until a check finds it well again. */
  markDown(replica: Replica, reason: string): void {
    if (replica.state === 'down') return;
    this.setState(replica, 'down', { reason });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.allSettled([this.primaryCheck, ...this.checks, ...this.replicas.map((r) => r.pool)].map((p) => p.end()));
  }

  private async tick(): Promise<void> {
    // A check reports its failures itself; nothing may stop the next one.
    this.running = this.checkAll().catch((err: Error) =>
      this.options.log.warn({ err: { message: err.message } }, 'replica check failed unexpectedly'),
    );
    await this.running;
    this.running = undefined;
    if (!this.closed) {
      this.timer = setTimeout(() => void this.tick(), this.options.checkIntervalMs);
      this.timer.unref();
    }
  }

  private async checkAll(): Promise<void> {
    // The time is taken before asking: the position read is at least the one the primary had then.
    const at = Date.now();
    try {
      const { rows } = await this.primaryCheck.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      this.samples.push({ at, lsn: parseLsn(rows[0]?.lsn as string) });
      if (this.primaryFailing) this.options.log.info({}, 'replica monitor reaches the primary again');
      this.primaryFailing = false;
    } catch (err) {
      if (!this.primaryFailing) {
        this.options.log.warn(
          { err: { message: (err as Error).message } },
          'replica monitor cannot reach the primary; lag is measured against its last known position',
        );
      }
      this.primaryFailing = true;
    }
    // Older samples than the lag limit (and a few checks more) decide nothing: the replica is lagging anyway.
    const keepAfter = at - this.options.maxLagMs - 4 * this.options.checkIntervalMs;
    while (this.samples.length > 1 && (this.samples[0] as Sample).at < keepAfter) this.samples.shift();
    await Promise.all(this.replicas.map((replica, i) => this.check(replica, this.checks[i] as pg.Pool)));
  }

  private async check(replica: Replica, pool: pg.Pool): Promise<void> {
    const at = Date.now();
    let inRecovery: boolean;
    let replay: Lsn;
    try {
      const { rows } = await pool.query<{ in_recovery: boolean; replay_lsn: string | null }>(
        'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replay_lsn',
      );
      inRecovery = rows[0]?.in_recovery === true;
      replay = rows[0]?.replay_lsn ? parseLsn(rows[0].replay_lsn) : 0n;
    } catch (err) {
      this.setState(replica, 'down', { reason: (err as Error).message });
      return;
    }
    if (!inRecovery) {
      // Promoted: it no longer follows this primary, so what it holds may diverge from it.
      this.setState(replica, 'not_in_recovery', {});
      return;
    }
    const newest = this.samples.at(-1);
    let lagMs = 0;
    if (newest && newest.lsn > replay) {
      const reached = this.samples.findLast((s) => s.lsn <= replay);
      // Not even the oldest sample kept: lagging by more than that sample's age.
      lagMs = at - (reached ?? (this.samples[0] as Sample)).at;
    }
    replica.replayLsn = replay;
    replica.lagMs = lagMs;
    replica.lagBytes = newest && newest.lsn > replay ? Number(newest.lsn - replay) : 0;
    replica.checkedAt = at;
    this.setState(replica, lagMs > this.options.maxLagMs ? 'lagging' : 'ok', { lag_ms: lagMs });
  }

  private setState(replica: Replica, state: ReplicaState, details: Record<string, unknown>): void {
    const previous = replica.state;
    replica.state = state;
    if (state === previous) return;
    const fields = { replica: replica.name, state, previous, ...details };
    if (state === 'ok') this.options.log.info(fields, 'replica serves reads');
    else this.options.log.warn(fields, 'replica skipped: reads go to other replicas or the primary');
  }
}
