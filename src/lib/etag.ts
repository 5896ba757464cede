import { createHash } from 'node:crypto';

/** A task's entity tag: its id and version, strong (any change bumps the version). */
export const taskEtag = (task: { id: number; version: number }) => `"${task.id}.${task.version}"`;

/** A strong tag over a representation's bytes (given in parts, hashed without joining them). */
export function contentEtag(...parts: Array<string | Buffer>): string {
  const hash = createHash('sha1');
  for (const part of parts) hash.update(part);
  return `"${hash.digest('base64url')}"`;
}

/**
 * Reads If-Match for one task (RFC 9110 §13.1.1, strong comparison):
 * undefined when absent, 'any' for `*`, otherwise the version named for this task, or -1 when no
 * listed tag names it (a precondition that can only fail).
 */
export function expectedVersion(ifMatch: string | undefined, taskId: number): number | 'any' | undefined {
  if (ifMatch === undefined) return undefined;
  if (ifMatch.trim() === '*') return 'any';
  for (const tag of ifMatch.split(',')) {
    // A version is a 4-byte integer in the database: a longer number can name no version.
    const match = /^"(\d+)\.(\d{1,10})"$/.exec(tag.trim());
    if (match && Number(match[1]) === taskId && Number(match[2]) <= 2_147_483_647) return Number(match[2]);
  }
  return -1;
}

/** If-None-Match (weak comparison): does any listed tag, or `*`, match the current one? */
export function noneMatch(ifNoneMatch: string | undefined, current: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(current));
}
