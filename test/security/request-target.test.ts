import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../helpers/app.js';

/**
 * HTTP/1.1 lets a request line carry an absolute URI (RFC 9112 §3.2.2, absolute-form), which names a
 * host of the client's choosing. Nothing the server writes may take that host (or scheme) from it:
 * links stay relative, and paths are judged as if the request were in origin-form.
 */

let ctx: TestContext;
let token: string;

beforeAll(async () => {
  ctx = await setupTestApp();
  const user = await registerAndLogin(ctx.api, 'target');
  token = user.token;
  for (let i = 0; i < 3; i++) {
    const created = await ctx.api.post('/tasks', { title: `task ${i}` }, { token });
    expect(created.status).toBe(201);
  }
});
afterAll(() => ctx?.close());

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes the request line exactly as given (Node's client would not send absolute-form). */
function rawRequest(target: string, method = 'GET', extra: string[] = []): Promise<RawResponse> {
  const { hostname, port } = new URL(ctx.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('connect', () =>
      // Written, not ended: the server closes (Connection: close); a half-closed socket reads as a client gone.
      socket.write(
        [
          `${method} ${target} HTTP/1.1`,
          'Host: evil.example',
          `Authorization: Bearer ${token}`,
          'Connection: close',
          ...extra,
          '',
          '',
        ].join('\r\n'),
      ),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines)
        headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
  });
}

/** The URLs of a Link header. */
const linkTargets = (link: string | undefined) => [...(link ?? '').matchAll(/<([^>]*)>/g)].map((m) => m[1] as string);

describe('absolute-form request targets', () => {
  it('GET http://evil.example/api/v1/tasks?limit=1 gets relative links, as the origin-form request does', async () => {
    const origin = await rawRequest('/api/v1/tasks?limit=1&status=pending');
    expect(origin.status).toBe(200);
    for (const target of [
      'http://evil.example/api/v1/tasks?limit=1&status=pending',
      'https://evil.example:8443/api/v1/tasks?limit=1&status=pending',
      'HTTP://user@evil.example/api/v1/tasks?limit=1&status=pending',
    ]) {
      const res = await rawRequest(target);
      expect(res.status, target).toBe(200);
      expect(res.headers.link, target).toBe(origin.headers.link);
      const links = linkTargets(res.headers.link);
      expect(links.length, target).toBeGreaterThanOrEqual(2);
      for (const link of links) {
        expect(link, target).toMatch(/^\/api\/v1\/tasks\?/);
        expect(link, target).not.toContain('evil.example');
      }
    }
    expect(linkTargets(origin.headers.link)).toContain('/api/v1/tasks?limit=1&status=pending&offset=1');
  });

  it('a link is never protocol-relative, whatever slashes follow the host', async () => {
    for (const target of ['//evil.example/api/v1/tasks?limit=1', 'http://evil.example//api/v1/tasks?limit=1']) {
      const res = await rawRequest(target);
      // Not a route, in either form: 404 without links.
      expect(res.status, target).toBe(404);
      expect(res.headers.link, target).toBeUndefined();
    }
  });

  it('a known path with the wrong method is 405 with Allow in absolute-form too, an unknown path 404', async () => {
    const origin = await rawRequest('/api/v1/tasks', 'PUT', ['Content-Length: 0']);
    expect(origin.status).toBe(405);
    const absolute = await rawRequest('http://evil.example/api/v1/tasks', 'PUT', ['Content-Length: 0']);
    expect(absolute.status).toBe(405);
    expect(absolute.headers.allow).toBe(origin.headers.allow);
    expect(absolute.headers['content-type']).toMatch(/^application\/problem\+json/);
    const unknown = await rawRequest('http://evil.example/api/v1/nothing-here', 'PUT', ['Content-Length: 0']);
    expect(unknown.status).toBe(404);
    expect(unknown.body).not.toContain('evil.example');
  });
});
