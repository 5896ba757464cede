import type { OutboxPosition } from '../feed/commit-order.js';

/**
 * An event's place in the outbox as the stream shows it (the SSE `id:`, what Last-Event-ID sends
 * back): `<xid>-<id>`, opaque to clients. Parsed strictly; compared as numbers (xid is 64 bits).
 */
const POSITION = /^(\d{1,20})-(\d{1,19})$/;

export const formatPosition = (position: OutboxPosition): string => `${position.xid}-${position.id}`;

export function parsePosition(text: string): OutboxPosition | undefined {
  const match = POSITION.exec(text);
  if (!match?.[1] || !match[2]) return undefined;
  const xid = BigInt(match[1]);
  const id = Number(match[2]);
  if (xid >= 2n ** 64n || !Number.isSafeInteger(id)) return undefined;
  return { xid: xid.toString(), id };
}

/** Negative, zero or positive as `a` comes before, at or after `b`. */
export function comparePositions(a: OutboxPosition, b: OutboxPosition): number {
  const ax = BigInt(a.xid);
  const bx = BigInt(b.xid);
  if (ax !== bx) return ax < bx ? -1 : 1;
  return a.id - b.id;
}

export const START: OutboxPosition = { xid: '0', id: 0 };
