import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import { isDatabaseUnavailable, loggable, sqlState } from '../db/errors.js';
import type { Database } from '../db/pool.js';
import { pickReplica, primaryReads, type ReadRouter, type ReplicaChoiceReason } from '../db/read-router.js';
import { type Lsn, parseLsn, type Replica, ReplicaMonitor } from '../db/replica-monitor.js';
import { createWriteMarks, type WriteMarks } from '../db/write-marks.js';

export interface ReplicasStatus {
  healthy: number;
  total: number;
  /** By name: `ok`, or why it is skipped (`lagging`, `down`, `not_in_recovery`, `unchecked`). */
  members: Record<string, string>;
}

export interface Replicas {
  /**
   * A router over one instance of a repository per database (`create` is called once per replica;
   * `primary` is the primary's instance). Without replicas, every read runs on `primary`.
   */
  router<R>(create: (db: Database) => R, primary: R): ReadRouter<R>;
  /** For /readyz; undefined without replicas. */
  status(): ReplicasStatus | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    replicas: Replicas;
  }
}

type ReadReason = ReplicaChoiceReason | 'replica_failed';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** SQLSTATEs of a query the replica cancelled because replay needed what it held (a hot-standby conflict). */
const RECOVERY_CONFLICTS = new Set(['40001', '40P01']);
const STATEMENT_TIMEOUT = '57014';

/**
 * Read replicas (DATABASE_REPLICA_URLS): lag-tolerant reads go to a healthy replica that has
 * replayed the reader's own writes; everything else stays on the primary. Without replicas this
 * plugin adds nothing: no hook, no query, no timer.
 */
async function replicas(app: FastifyInstance) {
  const { config } = app;
  if (config.replicas.urls.length === 0) {
    app.decorate('replicas', { router: (_create, primary) => primaryReads(primary), status: () => undefined } satisfies Replicas);
    return;
  }

  const monitor = new ReplicaMonitor({
    primaryUrl: config.databaseUrl,
    replicaUrls: config.replicas.urls,
    pool: {
      max: config.dbPoolMax,
      statementTimeoutMs: config.dbStatementTimeoutMs,
      connectionTimeoutMs: config.dbConnectionTimeoutMs,
    },
    maxLagMs: config.replicas.maxLagMs,
    checkIntervalMs: config.replicas.checkIntervalMs,
    log: app.log,
  });
  // A replica serving reads without a user's mark has replayed everything older than its lag limit
  // plus the age of its last check, so a mark may expire after that (and a second to spare).
  const marks: WriteMarks = createWriteMarks({
    ttlMs: config.replicas.maxLagMs + monitor.staleAfterMs + 1_000,
    redis: app.redis,
    keyPrefix: config.redisKeyPrefix,
    log: app.log,
  });
  await monitor.start();
  app.addHook('onClose', async () => {
    marks.close();
    await monitor.close();
  });

  const reads = new Counter({
    name: 'db_reads_total',
    help: 'Lag-tolerant reads by the database that answered, and why',
    labelNames: ['target', 'reason'],
    registers: [app.metricsRegistry],
  });
  new Gauge({
    name: 'db_replica_healthy',
    help: 'Whether the replica serves reads (1) or is skipped (0)',
    labelNames: ['replica'],
    // With several workers, healthy only if every worker finds it so.
    aggregator: 'min',
    registers: [app.metricsRegistry],
    collect() {
      const healthy = new Set(monitor.healthy());
      for (const r of monitor.replicas) this.set({ replica: r.name }, healthy.has(r) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'db_replica_lag_seconds',
    help: 'Age of the newest primary WAL position the replica has replayed, at its last check',
    labelNames: ['replica'],
    aggregator: 'max',
    registers: [app.metricsRegistry],
    collect() {
      for (const r of monitor.replicas) this.set({ replica: r.name }, r.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'db_replica_lag_bytes',
    help: 'WAL bytes the replica had still to replay, at its last check',
    labelNames: ['replica'],
    aggregator: 'max',
    registers: [app.metricsRegistry],
    collect() {
      for (const r of monitor.replicas) this.set({ replica: r.name }, r.lagBytes);
    },
  });

  new Gauge({
    name: 'db_replica_pool_connections',
    help: 'Replica pool connections by state',
    labelNames: ['replica', 'state'],
    registers: [app.metricsRegistry],
    collect() {
      for (const { name, pool } of monitor.replicas) {
        this.set({ replica: name, state: 'total' }, pool.totalCount);
        this.set({ replica: name, state: 'idle' }, pool.idleCount);
        this.set({ replica: name, state: 'waiting' }, pool.waitingCount);
      }
    },
  });

  // Read-your-writes: after a write, the primary's WAL position (taken after the commit, so at or
  // past it) becomes the writer's mark. Writes finishing together share one query: a query started
  // after every one of their commits answers for all of them.
  let nextPosition: Promise<Lsn> | undefined;
  const primaryPosition = (): Promise<Lsn> => {
    nextPosition ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      nextPosition = undefined;
      // The insert position, not the flushed one: with synchronous_commit off a commit returns
      // before its WAL is flushed, and only the insert position is sure to be past it.
      const { rows } = await app.pool.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      return parseLsn(rows[0]?.lsn as string);
    });
    return nextPosition;
  };

  // Before the response leaves, so the client's next request finds the mark. Any method that may
  // write counts, whatever the outcome: a server error may follow a commit, so it marks without a
  // position (the primary until the mark expires) rather than ask a database that may be failing.
  app.addHook('onSend', async (request: FastifyRequest, reply, payload) => {
    if (SAFE_METHODS.has(request.method) || !request.currentUser) return payload;
    const userId = request.currentUser.id;
    let position: Lsn | undefined;
    if (reply.statusCode < 500) {
      try {
        position = await primaryPosition();
      } catch (err) {
        request.log.warn(
          { err: loggable(err) },
          'could not read the WAL position after a write; the user reads from the primary for a while',
        );
      }
    }
    await marks.record(userId, position);
    for (const other of request.alsoWrittenFor ?? []) if (other !== userId) await marks.record(other, position);
    return payload;
  });

  let turn = 0;
  const choose = async (userId: number): Promise<{ replica?: Replica; reason: ReadReason }> => {
    const healthy = monitor.healthy();
    if (healthy.length === 0) return { reason: 'no_healthy_replica' };
    // The mark only once a replica could serve (with shared marks it is a Redis call).
    const choice = pickReplica(healthy, await marks.get(userId), turn);
    turn = choice.turn;
    return choice;
  };

  app.decorate('replicas', {
    router<R>(create: (db: Database) => R, primary: R): ReadRouter<R> {
      const instances = new Map(monitor.replicas.map((r) => [r, create(r.db)]));
      return {
        async run(userId, read) {
          const { replica, reason } = await choose(userId);
          if (!replica) {
            reads.inc({ target: 'primary', reason });
            return read(primary);
          }
          try {
            const result = await read(instances.get(replica) as R);
            reads.inc({ target: 'replica', reason });
            return result;
          } catch (err) {
            const state = sqlState(err);
            const conflict = state !== undefined && RECOVERY_CONFLICTS.has(state);
            const unreachable = state !== STATEMENT_TIMEOUT && isDatabaseUnavailable(err);
            if (!conflict && !unreachable) throw err;
            // Reads only, so running it again on the primary is safe; the caller never sees the replica fail.
            if (unreachable) monitor.markDown(replica, 'a read could not reach it');
            app.log.warn({ replica: replica.name, err: loggable(err) }, 'read failed on a replica; retried on the primary');
            reads.inc({ target: 'primary', reason: 'replica_failed' });
            return read(primary);
          }
        },
      };
    },
    status() {
      const healthy = new Set(monitor.healthy());
      return {
        healthy: healthy.size,
        total: monitor.replicas.length,
        // `unchecked`: well at its last check, but that check is too old to rely on.
        members: Object.fromEntries(
          monitor.replicas.map((r) => [r.name, healthy.has(r) || r.state !== 'ok' ? r.state : 'unchecked']),
        ),
      };
    },
  } satisfies Replicas);
}

export default fp(replicas, { name: 'replicas', dependencies: ['config', 'db', 'redis', 'sessions', 'metrics'] });
