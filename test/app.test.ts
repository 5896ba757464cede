import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../src/config.js';
import { loadConfig } from '../src/config.js';
import { appsOnOneDatabase, registerAndLogin, type TestApp } from './helpers/app.js';

const apps = appsOnOneDatabase();

const start = (overrides: Partial<AppConfig> = {}): Promise<TestApp> => apps.start(overrides);

describe('security headers', () => {
  it('are on API responses, error responses and /docs', async () => {
    const { api, baseUrl } = await start();
    const user = await registerAndLogin(api);
    const ok = await api.get('/users/me', { token: user.token });
    expect(ok.status).toBe(200);
    const unauthorized = await api.get('/users/me');
    expect(unauthorized.status).toBe(401);
    const missing = await api.get('/no-such-path');
    expect(missing.status).toBe(404);
    const docs = await fetch(`${baseUrl}/docs`);
    expect(docs.status).toBe(200);
    await docs.text();

    const all: Array<[string, Headers]> = [
      ['200', ok.headers],
      ['401', unauthorized.headers],
      ['404', missing.headers],
      ['/docs', docs.headers],
    ];
    for (const [what, headers] of all) {
      expect(headers.get('x-content-type-options'), what).toBe('nosniff');
      const csp = headers.get('content-security-policy') ?? '';
      expect(csp, what).toContain("default-src 'self'");
      expect(csp, what).toContain("frame-ancestors 'none'");
      expect(csp, what).not.toContain('unsafe-eval');
      expect(csp, what).toMatch(/script-src 'self'(;|$)/);
      expect(headers.get('x-frame-options'), what).toMatch(/^(DENY|SAMEORIGIN)$/);
      expect(headers.get('referrer-policy'), what).toBeTruthy();
      expect(headers.get('x-powered-by'), what).toBeNull();
    }
  });
});

describe('CORS', () => {
  const EXPOSED = ['etag', 'link', 'x-total-count', 'location'];

  it('with an allow-list: allowed origin gets ACAO, another origin gets none, never credentials', async () => {
    const { api } = await start({ corsOrigins: ['https://app.example.com'] });
    const user = await registerAndLogin(api);

    const allowed = await api.get('/tasks', { token: user.token, headers: { origin: 'https://app.example.com' } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('vary') ?? '').toMatch(/origin/i);
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const exposed = (allowed.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    for (const name of EXPOSED) expect(exposed).toContain(name);

    for (const origin of ['https://evil.example.com', 'http://app.example.com', 'https://app.example.com.evil.com', 'null']) {
      const refused = await api.get('/tasks', { token: user.token, headers: { origin } });
      expect(refused.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(refused.headers.get('access-control-allow-credentials'), origin).toBeNull();
    }
  });

  it('answers a preflight from the allowed origin with 204 and the allowed methods, and not one from elsewhere', async () => {
    const { baseUrl } = await start({ corsOrigins: ['https://app.example.com'] });
    const preflight = (origin: string) =>
      fetch(`${baseUrl}/api/v1/tasks`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const ok = await preflight('https://app.example.com');
    await ok.text();
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-methods') ?? '').toMatch(/POST/);
    expect((ok.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toMatch(/authorization/);
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();

    const evil = await preflight('https://evil.example.com');
    await evil.text();
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('by default allows any origin with "*" and never credentials', async () => {
    const config = loadConfig({});
    expect(config.corsOrigins).toBe('*');
    const { api, baseUrl } = await start({ corsOrigins: config.corsOrigins });
    const user = await registerAndLogin(api);
    const res = await api.get('/tasks', { token: user.token, headers: { origin: 'https://anywhere.example.org' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    for (const name of EXPOSED) expect(exposed).toContain(name);

    const preflight = await fetch(`${baseUrl}/api/v1/tasks`, {
      method: 'OPTIONS',
      headers: { origin: 'https://anywhere.example.org', 'access-control-request-method': 'POST' },
    });
    await preflight.text();
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

interface SocketOutcome {
  /** Milliseconds from connecting until the server closed the connection (or the bound passed). */
  ms: number;
  closed: boolean;
  response: string;
}

/**
 * A raw connection to the app that runs `behave` and waits for the server to close it, up to `boundMs`.
 * The socket is always destroyed at the end.
 */
function slowClient(baseUrl: string, boundMs: number, behave: (socket: net.Socket) => () => void): Promise<SocketOutcome> {
  const port = Number(new URL(baseUrl).port);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let response = '';
    let stopBehaving: () => void = () => {};
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      stopBehaving = behave(socket);
    });
    let finished = false;
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stopBehaving();
      socket.destroy();
      resolve({ ms: Date.now() - t0, closed, response });
    };
    const timer = setTimeout(() => finish(false), boundMs);
    socket.on('data', (chunk) => {
      response += chunk.toString();
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
  });
}

describe('slow clients', () => {
  const TIMEOUT_MS = 1500;

  it('are cut off: partial headers, and a body trickled slower than the request timeout', { timeout: 90_000 }, async () => {
    const { app, baseUrl } = await start({ headersTimeoutMs: TIMEOUT_MS, requestTimeoutMs: TIMEOUT_MS });
    // How the timeouts are applied to Node's server.
    expect(app.server.requestTimeout).toBe(TIMEOUT_MS);
    expect(app.server.headersTimeout).toBe(TIMEOUT_MS);
    // Node enforces both only when it sweeps its connections, every connectionsCheckingInterval ms.
    const sweepMs = (app.server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval;
    const boundMs = TIMEOUT_MS + sweepMs + 5_000;

    const [partialHeaders, tricklingBody] = await Promise.all([
      slowClient(baseUrl, boundMs, (socket) => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        return () => {};
      }),
      slowClient(baseUrl, boundMs, (socket) => {
        socket.write(
          'POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
        );
        // One byte every 500 ms: never idle for long, but far slower than the request timeout allows.
        const drip = setInterval(() => {
          if (!socket.destroyed) socket.write(' ');
        }, 500);
        return () => clearInterval(drip);
      }),
    ]);

    for (const [what, outcome] of [
      ['partial headers', partialHeaders],
      ['trickled body', tricklingBody],
    ] as const) {
      expect(outcome.closed, `${what}: still connected after ${boundMs} ms`).toBe(true);
      expect(outcome.ms, what).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
      expect(outcome.ms, what).toBeLessThanOrEqual(boundMs);
      // Cut off without a normal answer: at most a 408.
      if (outcome.response !== '') expect(outcome.response, what).toMatch(/^HTTP\/1\.1 408 /);
    }

    // The server still answers everyone else.
    const res = await fetch(`${baseUrl}/healthz`);
    expect(res.status).toBe(200);
  });

  it('a prompt client on the same server is not affected by the short timeouts', async () => {
    const { api } = await start({ headersTimeoutMs: TIMEOUT_MS, requestTimeoutMs: TIMEOUT_MS });
    const user = await registerAndLogin(api);
    expect((await api.post('/tasks', { title: 'quick' }, { token: user.token })).status).toBe(201);
  });
});

describe('keep-alive', () => {
  it('idle connections outlive a proxy default of 60 s, and the server uses the configured value', async () => {
    const defaults = loadConfig({});
    expect(defaults.keepAliveTimeoutMs).toBeGreaterThan(60_000);
    expect(loadConfig({ KEEP_ALIVE_TIMEOUT_MS: '65000' }).keepAliveTimeoutMs).toBe(65_000);

    const byDefault = await start({ keepAliveTimeoutMs: defaults.keepAliveTimeoutMs });
    expect(byDefault.app.server.keepAliveTimeout).toBe(defaults.keepAliveTimeoutMs);
    const custom = await start({ keepAliveTimeoutMs: 91_000 });
    expect(custom.app.server.keepAliveTimeout).toBe(91_000);
    // And the headers timeout never exceeds the request timeout.
    const tight = await start({ headersTimeoutMs: 20_000, requestTimeoutMs: 5_000 });
    expect(tight.app.server.headersTimeout).toBe(5_000);
    expect(tight.app.server.requestTimeout).toBe(5_000);
  });

  it('keeps an idle connection open between requests', async () => {
    const { baseUrl } = await start();
    const port = Number(new URL(baseUrl).port);
    const socket = net.connect({ host: '127.0.0.1', port });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      });
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
      });
      const exchange = async () => {
        received = '';
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        const deadline = Date.now() + 5_000;
        while (!received.includes('{"status":"ok"}') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        return received;
      };
      const first = await exchange();
      expect(first).toMatch(/^HTTP\/1\.1 200 /);
      expect(first.toLowerCase()).toMatch(/keep-alive: timeout=75/);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(socket.destroyed).toBe(false);
      expect(await exchange()).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      socket.destroy();
    }
  });
});

describe('bytes after a request that are not a request', () => {
  it("are answered 400 after that request's own answer, which is not lost", async () => {
    const { api, baseUrl } = await start();
    const user = await registerAndLogin(api);
    const task = await api.post('/tasks', { title: 'deleted with an unframed body' }, { token: user.token });
    expect(task.status).toBe(201);
    const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(baseUrl).port) });
    try {
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // A body without Content-Length or Transfer-Encoding: to HTTP/1.1 it is the next request's first line.
      socket.write(
        `DELETE /api/v1/tasks/${task.body.id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${user.token}\r\n\r\n{"reason":"done"}\r\n\r\n`,
      );
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
      const statuses = [...received.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
      expect(statuses).toEqual([204, 400]);
      expect(received).toContain('Malformed HTTP request');
      expect((await api.get(`/tasks/${task.body.id}`, { token: user.token })).status).toBe(404);
    } finally {
      socket.destroy();
    }
  });
});
