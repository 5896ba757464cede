import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptQueueLength, drainConnections } from '../../src/serve.js';
import { setupTestApp, type TestContext } from '../helpers/app.js';
import { freePort } from '../helpers/process.js';

/** Reads one HTTP response (with Content-Length) from a socket; resolves with its head and body. */
function readResponse(socket: net.Socket): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk: Buffer) => {
      data += chunk.toString();
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.slice(0, end);
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ head, body: data.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

const GET_HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: task-api\r\n\r\n';

describe('draining connections at shutdown', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await setupTestApp();
  });
  afterAll(() => ctx?.close());

  it('serves a request already sent on an idle keep-alive connection, then closes it; refuses new connections', async () => {
    const { port } = ctx.app.server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(GET_HEALTHZ);
    const first = await readResponse(socket);
    expect(first.head).toMatch(/^HTTP\/1.1 200/);
    expect(first.head).not.toMatch(/connection: close/i);

    // The connection is idle. A proxy sends the next request on it at the instant shutdown begins:
    // the app has not read it yet. Closing the server the usual way (http.Server#close) would
    // destroy this connection and reset the request.
    socket.write(GET_HEALTHZ);
    const second = readResponse(socket);
    const ended = new Promise((resolve) => socket.once('end', resolve));
    ctx.app.lifecycle.shuttingDown = true;
    await drainConnections(ctx.app.server, 5_000, () => {
      ctx.app.lifecycle.closingConnections = true;
    });

    const answer = await second;
    expect(answer.head).toMatch(/^HTTP\/1.1 200/);
    expect(answer.head).toMatch(/connection: close/i);
    await ended;
    // The listener is closed: a new connection is refused (a proxy retries that elsewhere).
    const refused = await new Promise<string>((resolve) => {
      net
        .connect(port, '127.0.0.1')
        .once('connect', () => resolve('connected'))
        .once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe.runIf(process.platform === 'linux')('acceptQueueLength', () => {
  it('counts connections the kernel accepted that the process has not taken yet', async () => {
    // A listener whose event loop is busy: connections complete in the kernel and wait.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
           console.log(s.address().port);
           const end = Date.now() + 4000;
           while (Date.now() < end) {}
           process.exit(0);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const port = await new Promise<number>((resolve) => child.stdout.once('data', (c) => resolve(Number(String(c).trim()))));
    expect(acceptQueueLength(port)).toBe(0);
    const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    await Promise.all(clients.map((c) => new Promise((resolve) => c.once('connect', resolve))));
    expect(acceptQueueLength(port)).toBe(2);
    for (const c of clients) c.destroy();
    child.kill('SIGKILL');
    expect(acceptQueueLength(await freePort())).toBeUndefined();
  });
});
