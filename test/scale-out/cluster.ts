import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HttpClient, type HttpResponse, httpClient } from '../helpers/http.js';
import { type ServerProcess, startServerProcess } from '../helpers/process.js';
import { type RunningNginx, startNginx } from './nginx.js';

export interface Instance extends ServerProcess {
  name: string;
  port: number;
  /** The API of this instance alone, bypassing nginx. */
  api: HttpClient;
}

export interface Cluster {
  instances: Instance[];
  nginx: RunningNginx;
  /** The API through nginx. */
  api: HttpClient;
  stop(): Promise<void>;
}

/**
 * Two task-api processes (the built server) on one database and one Redis, with the same secrets,
 * each naming itself in X-Instance, behind a real nginx configured from deploy/nginx.conf.
 */
export async function startCluster(env: Record<string, string>, names = ['a', 'b']): Promise<Cluster> {
  const shared = {
    JWT_SECRET: randomBytes(32).toString('base64url'),
    PASSWORD_PEPPER: randomBytes(32).toString('base64url'),
    REDIS_KEY_PREFIX: `task-api-scale:${randomBytes(4).toString('hex')}:`,
    BCRYPT_COST: '4',
    // The app believes X-Forwarded-For from nginx only (here on 127.0.0.1).
    TRUST_PROXY: '127.0.0.1',
    ...env,
  };
  const instances: Instance[] = [];
  let nginx: RunningNginx | undefined;
  const stop = async () => {
    await nginx?.stop();
    await Promise.all(
      instances.map(async (instance) => {
        if (instance.child.exitCode !== null || instance.child.signalCode !== null) return;
        const exit = instance.stop('SIGTERM');
        const timer = setTimeout(() => instance.child.kill('SIGKILL'), 15_000);
        await exit;
        clearTimeout(timer);
      }),
    );
  };
  try {
    // One after the other: both would otherwise race to create the first admin.
    for (const name of names) {
      const server = await startServerProcess({ ...shared, INSTANCE_NAME: name });
      const port = Number(new URL(server.baseUrl).port);
      instances.push({ ...server, name, port, api: httpClient(`${server.baseUrl}/api/v1`) });
    }
    nginx = await startNginx(instances.map((i) => i.port));
  } catch (err) {
    await stop();
    throw err;
  }
  return { instances, nginx, api: httpClient(`${nginx.baseUrl}/api/v1`), stop };
}

export const instanceOf = (res: HttpResponse) => res.headers.get('x-instance') ?? '';

/**
 * Sends through nginx until a response comes from `name` (nginx takes turns between the instances),
 * and returns every response, that one last.
 */
export async function sendUntilServedBy(name: string, send: () => Promise<HttpResponse>, attempts = 20): Promise<HttpResponse[]> {
  const responses: HttpResponse[] = [];
  for (let i = 0; i < attempts; i++) {
    const res = await send();
    responses.push(res);
    if (instanceOf(res) === name) return responses;
  }
  throw new Error(`no response from instance ${name} in ${attempts} requests: ${responses.map(instanceOf).join(',')}`);
}

export interface LoadResult {
  method: string;
  status: number;
  instance: string;
  /** When the response ended (or failed), ms since the load began. */
  at: number;
  error?: string;
  body?: string;
}

export interface LoadOptions {
  baseUrl: string;
  token: string;
  ratePerSecond: number;
  durationMs: number;
  /** Called once, this long after the load began. */
  at?: { ms: number; run: () => void };
}

/**
 * A paced load through one keep-alive agent: every other request creates a task (POST /tasks), the
 * rest read a page of tasks. Resolves when every request sent has an answer or an error.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const url = new URL(options.baseUrl);
  const results: LoadResult[] = [];
  const pending: Promise<void>[] = [];
  const started = Date.now();
  const send = (i: number) =>
    new Promise<void>((resolve) => {
      const create = i % 2 === 0;
      const method = create ? 'POST' : 'GET';
      const body = create ? JSON.stringify({ title: `load ${i}`, priority: 'high' }) : undefined;
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path: create ? '/api/v1/tasks' : '/api/v1/tasks?limit=5',
          headers: {
            authorization: `Bearer ${options.token}`,
            ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => {
            results.push({
              method,
              status: res.statusCode ?? 0,
              instance: String(res.headers['x-instance'] ?? ''),
              at: Date.now() - started,
              body: create ? text : undefined,
            });
            resolve();
          });
          res.on('error', (err) => {
            results.push({ method, status: 0, instance: '', at: Date.now() - started, error: err.message });
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', (err) => {
        results.push({ method, status: 0, instance: '', at: Date.now() - started, error: err.message });
        resolve();
      });
      req.end(body);
    });

  let sent = 0;
  let fired = false;
  for (;;) {
    const elapsed = Date.now() - started;
    if (options.at && !fired && elapsed >= options.at.ms) {
      fired = true;
      options.at.run();
    }
    if (elapsed >= options.durationMs) break;
    const due = Math.floor((elapsed * options.ratePerSecond) / 1000);
    while (sent < due) pending.push(send(sent++));
    await sleep(5);
  }
  await Promise.all(pending);
  agent.destroy();
  return results;
}
