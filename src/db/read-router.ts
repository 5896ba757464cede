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
