import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { createWakeableSleep } from '../../lib/wakeable-sleep.js';
import type { OutboxPosition } from '../feed/commit-order.js';
import { comparePositions, formatPosition } from './position.js';
import type { StreamEvent, StreamRepository } from './repository.js';

/** Outbox rows read per round, and per page of a replay. */
const BATCH = 500;
/** A stream whose client has not read this much of what was written is ended (it resumes with Last-Event-ID). */
const MAX_UNREAD_BYTES = 1 << 20;
/** Re-checks asked for within this long are one query. */
const RECHECK_COALESCE_MS = 5;

/** One open stream: a client's response, whose login it belongs to, and where it is in the outbox. */
export interface Stream {
  userId: number;
  sessionId: string;
  res: ServerResponse;
  /** The last position written (or resumed from): nothing at or before it is written again. */
  last: OutboxPosition | undefined;
  /** Where the client asked to resume from (Last-Event-ID). */
  resume: OutboxPosition | undefined;
  /** Live events held while the replay runs (undefined: live). */
  held: StreamEvent[] | undefined;
  events: number;
  ended: boolean;
}

export interface HubOptions {
  repository: StreamRepository;
  /** Which of these logins are still valid (sessions repository). */
  liveSessions(logins: Array<{ sessionId: string; userId: number }>): Promise<Set<string>>;
  pollIntervalMs: number;
  heartbeatMs: number;
  recheckMs: number;
  log: FastifyBaseLogger;
}

/** A frame of an event: `id:` its position, `event:` its type, `data:` its body (a line per line of it). */
export function eventFrame(event: StreamEvent): string {
  const data = event.body.includes('\n') ? event.body.replace(/\r?\n/g, '\ndata: ') : event.body;
  return `id: ${formatPosition(event)}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

/**
 * This instance's streams and the one feed that fills them (not a feed per stream): a cursor on the
 * outbox's commit order (feed/commit-order.ts) starting at its end when the instance starts, woken
 * by NOTIFY after any instance's commits and every `pollIntervalMs`. Each round reads a batch and
 * asks PostgreSQL once which connected users may see each row (feed/visibility.ts), then writes the
 * rows to those users' streams. A stream that resumes (Last-Event-ID) joins at the cursor: it is
 * sent what it missed up to there from the outbox, then what the feed has held for it meanwhile.
 */
export function createStreamHub(options: HubOptions) {
  const { repository, log } = options;
  const byUser = new Map<number, Set<Stream>>();
  let open = 0;
  let cursor: OutboxPosition | undefined;
  /** The users the round in flight asked about: a stream of anyone else joins after the round. */
  let roundUsers: Set<number> | undefined;
  const joinAfterRound = new Set<Stream>();
  let closing = false;
  let loop: Promise<void> | undefined;
  let failingSince: number | undefined;
  const timers: NodeJS.Timeout[] = [];
  const { wait, wake } = createWakeableSleep(() => closing);

  const end = (stream: Stream) => {
    if (stream.ended) return;
    stream.ended = true;
    open -= 1;
    const mine = byUser.get(stream.userId);
    mine?.delete(stream);
    if (mine?.size === 0) byUser.delete(stream.userId);
    joinAfterRound.delete(stream);
    stream.res.end();
  };

  const write = (stream: Stream, text: string | Buffer) => {
    if (stream.ended) return;
    // A client that stopped reading would hold its backlog in memory: it reconnects and resumes instead.
    if (stream.res.writableLength > MAX_UNREAD_BYTES) {
      log.info({ user_id: stream.userId }, 'stream ended: the client is not reading');
      end(stream);
      return;
    }
    stream.res.write(text);
  };

  const send = (stream: Stream, event: StreamEvent, frame: string | Buffer = eventFrame(event)) => {
    if (stream.last && comparePositions(event, stream.last) <= 0) return;
    stream.last = event;
    stream.events += 1;
    write(stream, frame);
  };

  /** Joins the feed at `at`: live at once, or after a replay of (resume, at] (or a reset when resume is gone). */
  const join = (stream: Stream, at: OutboxPosition) => {
    if (!stream.resume) {
      stream.held = undefined;
      return;
    }
    void replay(stream, stream.resume, at);
  };

  async function replay(stream: Stream, from: OutboxPosition, to: OutboxPosition): Promise<void> {
    try {
      if (await repository.holds(from)) {
        let after = from;
        while (!stream.ended && comparePositions(after, to) < 0) {
          const rows = await repository.replay(stream.userId, after, to, BATCH);
          for (const row of rows) send(stream, row);
          const lastRow = rows.at(-1);
          if (!lastRow || rows.length < BATCH) break;
          after = lastRow;
        }
      } else {
        // Pruned (older than the retention) or never an event: the client reloads, then follows live.
        stream.last = undefined;
        write(
          stream,
          `id: ${formatPosition(to)}\nevent: reset\ndata: {"reason":"the position is no longer in the outbox: reload"}\n\n`,
        );
      }
      const held = stream.held ?? [];
      stream.held = undefined;
      for (const event of held) send(stream, event);
    } catch (err) {
      log.warn({ err: loggable(err), user_id: stream.userId }, 'stream replay failed: ending the stream (the client resumes)');
      end(stream);
    }
  }

  const dispatch = (row: StreamEvent & { viewers: number[] }) => {
    // Encoded once, written to every stream that gets it.
    let frame: Buffer | undefined;
    for (const userId of row.viewers) {
      for (const stream of byUser.get(userId) ?? []) {
        if (joinAfterRound.has(stream)) continue;
        if (stream.held) {
          stream.held.push(row);
          continue;
        }
        frame ??= Buffer.from(eventFrame(row));
        send(stream, row, frame);
      }
    }
  };

  const later = (position: OutboxPosition, than: OutboxPosition) => (comparePositions(position, than) > 0 ? position : than);

  async function round(): Promise<number> {
    cursor ??= await repository.end();
    const from = cursor;
    const users = [...byUser.keys()];
    roundUsers = new Set(users);
    try {
      if (users.length === 0) {
        // Nobody to write to: move past what is there without reading it.
        cursor = later(await repository.end(), from);
        return 0;
      }
      const rows = await repository.batch(from, users, BATCH);
      for (const row of rows) {
        dispatch(row);
        cursor = row;
      }
      return rows.length;
    } finally {
      roundUsers = undefined;
      const at = cursor;
      if (at) {
        for (const stream of joinAfterRound) join(stream, at);
        joinAfterRound.clear();
      }
    }
  }

  async function run(): Promise<void> {
    while (!closing) {
      try {
        const read = await round();
        if (failingSince !== undefined) {
          log.info({ failing_ms: Date.now() - failingSince }, 'stream feed reading the outbox again');
          failingSince = undefined;
        }
        if (read < BATCH) await wait(options.pollIntervalMs);
      } catch (err) {
        if (failingSince === undefined) {
          failingSince = Date.now();
          log.warn({ err: loggable(err) }, 'stream feed failed to read the outbox; retrying');
        }
        await wait(options.pollIntervalMs);
      }
    }
  }

  // Re-checks of logins, coalesced: whatever is asked for within a few milliseconds is one query.
  const toCheck = new Set<Stream>();
  let checkTimer: NodeJS.Timeout | undefined;
  async function checkNow(): Promise<void> {
    checkTimer = undefined;
    const streams = [...toCheck].filter((s) => !s.ended);
    toCheck.clear();
    if (streams.length === 0) return;
    const logins = new Map(streams.map((s) => [`${s.sessionId}/${s.userId}`, { sessionId: s.sessionId, userId: s.userId }]));
    try {
      const live = await options.liveSessions([...logins.values()]);
      for (const stream of streams) if (!live.has(stream.sessionId)) end(stream);
    } catch (err) {
      // The streams stay open; the periodic check asks again.
      log.warn({ err: loggable(err) }, 'stream login re-check failed');
    }
  }
  const recheck = (which: (stream: Stream) => boolean) => {
    for (const streams of byUser.values()) for (const stream of streams) if (which(stream)) toCheck.add(stream);
    if (toCheck.size > 0 && !checkTimer && !closing) checkTimer = setTimeout(checkNow, RECHECK_COALESCE_MS);
  };

  return {
    get open(): number {
      return open;
    },
    streamsOf: (userId: number) => byUser.get(userId)?.size ?? 0,
    wake,

    /** Adds a stream whose response has its headers written; it leaves when the client goes or `end` ends it. */
    add(stream: Omit<Stream, 'last' | 'held' | 'events' | 'ended'>): Stream {
      const added: Stream = { ...stream, last: stream.resume, held: stream.resume ? [] : undefined, events: 0, ended: false };
      let mine = byUser.get(added.userId);
      if (!mine) {
        mine = new Set();
        byUser.set(added.userId, mine);
      }
      mine.add(added);
      open += 1;
      added.res.on('close', () => end(added));
      added.res.on('error', () => end(added));
      // The client went away while the request was being authenticated: its 'close' has come already.
      if (added.res.destroyed || !added.res.socket || added.res.socket.destroyed) {
        end(added);
        return added;
      }
      if (cursor === undefined || (roundUsers && !roundUsers.has(added.userId))) joinAfterRound.add(added);
      else join(added, cursor);
      return added;
    },

    /** Checks again, at once, the logins of the streams `which` picks (an announced logout or deactivation). */
    recheck,
    recheckSession: (sessionId: string) => recheck((s) => s.sessionId === sessionId),
    recheckUser: (userId: number) => recheck((s) => s.userId === userId),
    recheckAll: () => recheck(() => true),

    start(): void {
      if (loop) return;
      loop = run();
      const heartbeat = setInterval(() => {
        for (const streams of byUser.values()) for (const stream of streams) write(stream, ':\n\n');
      }, options.heartbeatMs);
      const periodic = setInterval(() => recheck(() => true), options.recheckMs);
      heartbeat.unref();
      periodic.unref();
      timers.push(heartbeat, periodic);
    },

    /** Ends every stream (clients reconnect, elsewhere or later, and resume) and stops the feed. */
    async close(): Promise<void> {
      closing = true;
      for (const timer of timers) clearInterval(timer);
      clearTimeout(checkTimer);
      for (const streams of [...byUser.values()]) for (const stream of [...streams]) end(stream);
      wake();
      await loop;
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
