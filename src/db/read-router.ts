import type { Lsn } from './replica-monitor.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Users besides the caller whose next reads must see this request's write, as the caller's do (a
     * member removed from a project must not read its tasks from a replica that has not replayed the
     * removal). With replicas, each is given the caller's write mark; without, nothing is done.
     */
    alsoWrittenFor?: number[];
  }
}

/**
 * Runs a read that tolerates replication lag, on behalf of a user: `read` gets the repository of
 * the database chosen for it (a replica that has replayed that user's writes, or the primary).
 * Writes, transactions and access checks never go through here: they use the primary's repository.
 */
export interface ReadRouter<R> {
  run<T>(userId: number, read: (repository: R) => Promise<T>): Promise<T>;
}

/** Without replicas: every read on the primary's repository, at no cost. */
export function primaryReads<R>(repository: R): ReadRouter<R> {
  return { run: (_userId, read) => read(repository) };
}

export type ReplicaChoiceReason = 'replica' | 'no_healthy_replica' | 'own_write_not_replayed';

/**
 * Which healthy replica serves a user's read: one that has replayed the user's last write (`mark`;
 * undefined when the user has no recent write), taken in turn after `turn`. Returns the next turn.
 */
export function pickReplica<T extends { replayLsn: Lsn }>(
  healthy: readonly T[],
  mark: Lsn | undefined,
  turn: number,
): { replica?: T; reason: ReplicaChoiceReason; turn: number } {
  if (healthy.length === 0) return { reason: 'no_healthy_replica', turn };
  const eligible = mark === undefined ? healthy : healthy.filter((r) => r.replayLsn >= mark);
  if (eligible.length === 0) return { reason: 'own_write_not_replayed', turn };
  const next = (turn + 1) % eligible.length;
  return { replica: eligible[next], reason: 'replica', turn: next };
}
