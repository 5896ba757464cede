/**
 * The live stream's scenario of `npm run bench` (group `stream`): one server holding `streams`
 * concurrent GET /api/v1/stream connections, one per user, every user a member of one project.
 * Reported: the server's memory before and with the streams open, its CPU while they idle (through
 * heartbeats), and, for writes into the project at a steady rate, the latency from each write to
 * its event's arrival on every stream. Figures only: nothing here asserts a time.
 */

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createAccessTokens } from '../src/modules/sessions/tokens.js';

export interface StreamBenchOptions {
  port: number;
  pid: number | undefined;
  databaseUrl: string;
  /** The server's JWT_SECRET: tokens are signed here for sessions made in SQL (no bcrypt per user). */
  jwtSecret: string;
  streams: number;
  /** How long the streams idle for the CPU figure, and how long writes go on. */
  idleSeconds: number;
  writeSeconds: number;
  writesPerSecond: number;
}

export interface StreamBenchResult {
  streams: number;
  open_ms: number;
  rss_before_mb: number | null;
  rss_open_mb: number | null;
  kb_per_stream: number | null;
  idle_cpu_percent: number | null;
  idle_seconds: number;
  writes: number;
  deliveries: number;
  missing: number;
  /** From the write's response (its commit is before it): a lower bound. */
  from_response_p50_ms: number;
  from_response_p99_ms: number;
  /** From sending the write (its commit is after it): an upper bound. */
  from_request_p50_ms: number;
  from_request_p99_ms: number;
  from_request_max_ms: number;
  /** Per write, until it had reached every stream (from sending it). */
  all_streams_p99_ms: number;
}

const CLOCK_TICKS = 100;

async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the command's closing parenthesis.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

async function rssMb(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb ? kb / 1024 : null;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
const round = (ms: number) => Math.round(ms * 10) / 10;

/** Logins made in SQL for bench_user_2 … (one per stream), and their access tokens. */
async function logins(databaseUrl: string, jwtSecret: string, count: number) {
  const defaults = loadConfig({ NODE_ENV: 'test' });
  const tokens = createAccessTokens({
    secret: jwtSecret,
    issuer: defaults.jwtIssuer,
    audience: defaults.jwtAudience,
    accessTtlMinutes: defaults.accessTokenExpireMinutes,
    clockSkewSeconds: defaults.jwtClockSkewSeconds,
  });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ user_id: string; session_id: string }>(
      `INSERT INTO auth_sessions (user_id, expires_at, credentials_version)
       SELECT id, now() + interval '1 day', credentials_version FROM users
       WHERE username LIKE 'bench\\_user\\_%' ORDER BY id LIMIT $1
       RETURNING user_id, id AS session_id`,
      [count],
    );
    if (rows.length < count) throw new Error(`only ${rows.length} bench users for ${count} streams: raise --users`);
    const users = rows.map((r) => ({ id: Number(r.user_id), token: tokens.sign(Number(r.user_id), r.session_id) }));
    // One project with every one of them in it: each write reaches every stream.
    const owner = users[0] as (typeof users)[number];
    // One transaction: a project must have its owner when it commits (a constraint trigger).
    await client.query('BEGIN');
    const project = await client.query<{ id: string }>("INSERT INTO projects (name) VALUES ('stream bench') RETURNING id");
    const projectId = Number(project.rows[0]?.id);
    await client.query(
      `INSERT INTO project_members (project_id, user_id, role)
       SELECT $1, u, CASE WHEN u = $2 THEN 'owner' ELSE 'viewer' END::project_role FROM unnest($3::bigint[]) u`,
      [projectId, owner.id, users.map((u) => u.id)],
    );
    await client.query('COMMIT');
    return { users, owner, projectId };
  } finally {
    await client.end();
  }
}

interface BenchStream {
  /** Arrival time of each task's task.created event, by task id. */
  arrivals: Map<number, number>;
  request: http.ClientRequest;
}

function openStream(port: number, token: string): Promise<BenchStream> {
  return new Promise((resolve, reject) => {
    const arrivals = new Map<number, number>();
    const request = http.get(
      { host: '127.0.0.1', port, path: '/api/v1/stream', headers: { authorization: `Bearer ${token}` }, agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream: ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const now = performance.now();
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (frame.includes('event: task.created')) {
              const id = /"subject":\{"type":"task","id":(\d+)\}/.exec(frame)?.[1];
              if (id) arrivals.set(Number(id), now);
            }
            end = buffer.indexOf('\n\n');
          }
        });
        resolve({ arrivals, request });
      },
    );
    request.on('error', reject);
  });
}

export async function benchStreams(options: StreamBenchOptions): Promise<StreamBenchResult> {
  const { users, owner, projectId } = await logins(options.databaseUrl, options.jwtSecret, options.streams);
  const rssBefore = await rssMb(options.pid);
  const opening = performance.now();
  const streams: BenchStream[] = [];
  // In groups, as clients would arrive: not 1,000 handshakes in one instant.
  for (let i = 0; i < users.length; i += 50) {
    streams.push(...(await Promise.all(users.slice(i, i + 50).map((u) => openStream(options.port, u.token)))));
  }
  const openMs = performance.now() - opening;
  try {
    await sleep(2_000);
    const rssOpen = await rssMb(options.pid);
    const cpuBefore = await cpuSeconds(options.pid);
    await sleep(options.idleSeconds * 1000);
    const cpuAfter = await cpuSeconds(options.pid);

    // Writes at a steady rate, each timed from its request and from its response.
    const writes = new Map<number, { sent: number; answered: number }>();
    const gap = 1000 / options.writesPerSecond;
    const until = performance.now() + options.writeSeconds * 1000;
    const base = `http://127.0.0.1:${options.port}/api/v1`;
    let n = 0;
    while (performance.now() < until) {
      const next = performance.now() + gap;
      const sent = performance.now();
      const res = await fetch(`${base}/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: `stream bench ${n++}`, project_id: projectId }),
      });
      const answered = performance.now();
      if (res.status !== 201) throw new Error(`write: ${res.status} ${await res.text()}`);
      writes.set(((await res.json()) as { id: number }).id, { sent, answered });
      await sleep(Math.max(0, next - performance.now()));
    }
    // The last writes' events arrive.
    await sleep(2_000);

    const fromResponse: number[] = [];
    const fromRequest: number[] = [];
    const allStreams: number[] = [];
    let missing = 0;
    for (const [taskId, write] of writes) {
      let last = 0;
      for (const stream of streams) {
        const arrived = stream.arrivals.get(taskId);
        if (arrived === undefined) {
          missing += 1;
          continue;
        }
        fromResponse.push(Math.max(0, arrived - write.answered));
        fromRequest.push(arrived - write.sent);
        last = Math.max(last, arrived - write.sent);
      }
      allStreams.push(last);
    }
    for (const list of [fromResponse, fromRequest, allStreams]) list.sort((a, b) => a - b);
    const idleCpu =
      cpuBefore === null || cpuAfter === null ? null : Math.round(((cpuAfter - cpuBefore) / options.idleSeconds) * 1000) / 10;
    return {
      streams: streams.length,
      open_ms: Math.round(openMs),
      rss_before_mb: rssBefore === null ? null : Math.round(rssBefore),
      rss_open_mb: rssOpen === null ? null : Math.round(rssOpen),
      kb_per_stream: rssBefore === null || rssOpen === null ? null : Math.round(((rssOpen - rssBefore) * 1024) / streams.length),
      idle_cpu_percent: idleCpu,
      idle_seconds: options.idleSeconds,
      writes: writes.size,
      deliveries: fromRequest.length,
      missing,
      from_response_p50_ms: round(percentile(fromResponse, 50)),
      from_response_p99_ms: round(percentile(fromResponse, 99)),
      from_request_p50_ms: round(percentile(fromRequest, 50)),
      from_request_p99_ms: round(percentile(fromRequest, 99)),
      from_request_max_ms: round(fromRequest.at(-1) ?? Number.NaN),
      all_streams_p99_ms: round(percentile(allStreams, 99)),
    };
  } finally {
    for (const stream of streams) stream.request.destroy();
  }
}
