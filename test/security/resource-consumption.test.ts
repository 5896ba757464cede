import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOp, type Operation, operations, queryParams } from '../helpers/openapi.js';
import { expectProblem, send, setupWorld, validRequest, type World } from '../helpers/security.js';

// OWASP API4:2023 (unrestricted resource consumption): sizes, depths, lengths and page sizes are bounded
// on every route of /openapi.json; a bad input costs a quick 4xx, never a 500 or a hang.
let world: World;
let ops: Operation[];
const BODY_LIMIT = 4096;
beforeAll(async () => {
  world = await setupWorld({ bodyLimitBytes: BODY_LIMIT });
  ops = await operations(world.baseUrl);
});
afterAll(() => world.close());

const withBody = () => ops.filter((op) => Object.keys(op.bodies).length > 0);

/** Every string in a schema (through unions), with its path. */
function strings(schema: Record<string, any>, path: string): Array<[string, Record<string, any>]> {
  if (!schema || typeof schema !== 'object') return [];
  if (schema.type === 'string') return [[path, schema]];
  const out: Array<[string, Record<string, any>]> = [];
  for (const branch of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) out.push(...strings(branch, path));
  for (const [name, property] of Object.entries<any>(schema.properties ?? {})) out.push(...strings(property, `${path}.${name}`));
  return out;
}

async function stillServing() {
  const res = await fetch(`${world.baseUrl}/healthz`);
  expect(res.status).toBe(200);
}

describe('request size', () => {
  it('a body over BODY_LIMIT_BYTES → 413 on every route that takes one (JSON and form)', async () => {
    for (const op of withBody()) {
      const req = await validRequest(world, op);
      const big = JSON.stringify({ ...req.body, padding: 'x'.repeat(BODY_LIMIT) });
      expectProblem(await send(world, op, req, { raw: big }), 413);
    }
    const form = `username=a&password=${'x'.repeat(20_000)}`;
    const res = await world.api.post('/auth/login', undefined, {
      raw: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectProblem(res, 413);
    await stillServing();
  });

  it('headers over the server limit → 431 problem+json; a too-long path parameter → 414 problem+json', async () => {
    const res = await fetch(`${world.baseUrl}/api/v1/users/me`, { headers: { 'x-padding': 'x'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const long = await world.api.get(`/tasks/${'9'.repeat(1000)}`, { token: world.alice.token });
    expectProblem(long, 414);
    await stillServing();
  });
});

describe('JSON shape', () => {
  it('deeply nested arrays and objects (10,000 levels) in every body → 4xx, and the server keeps serving', async () => {
    for (const op of withBody()) {
      const req = await validRequest(world, op);
      for (const depth of [1_000, 1_300]) {
        const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
        const objects = `${'{"a":'.repeat(depth / 2)}1${'}'.repeat(depth / 2)}`;
        for (const nested of [arrays, objects]) {
          const first = Object.keys(req.body ?? { x: 1 })[0] ?? 'x';
          const res = await send(world, op, req, { raw: `{"${first}":${nested}}` });
          expect(res.status, `${describeOp(op)} depth ${depth}: ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
          expect(res.status, describeOp(op)).toBeLessThan(500);
          expectProblem(res);
        }
      }
      // A body made only of nesting, at the size limit.
      const deep = `${'['.repeat(BODY_LIMIT / 2 - 1)}${']'.repeat(BODY_LIMIT / 2 - 1)}`;
      const res = await send(world, op, req, { raw: deep });
      expect([400, 413, 422], describeOp(op)).toContain(res.status);
    }
    await stillServing();
  });

  it('a long array where a string belongs, and a body of many unknown fields → 422 with a bounded list of issues', async () => {
    for (const op of withBody()) {
      const req = await validRequest(world, op);
      const first = Object.keys(req.body ?? { x: 1 })[0] ?? 'x';
      const array = await send(world, op, req, { raw: `{"${first}":[${'1,'.repeat(1500)}1]}` });
      expectProblem(array, 422);
      const fields = Array.from({ length: 400 }, (_, i) => `"f${i}":1`).join(',');
      const many = await send(world, op, req, { raw: `{${fields}}` });
      expectProblem(many, 422);
      expect(many.body.errors.length, describeOp(op)).toBeLessThanOrEqual(20);
      // The answer is smaller than the question: no amplification.
      expect(many.text.length, describeOp(op)).toBeLessThan(`{${fields}}`.length);
    }
  });
});

describe('string lengths', () => {
  it('every string in every request body and query declares a maximum length', () => {
    for (const op of ops) {
      for (const [type, schema] of Object.entries(op.bodies)) {
        for (const [path, s] of strings(schema, `${describeOp(op)} ${type}`)) {
          if (s.enum || s.const !== undefined) continue;
          expect(s.maxLength, path).toBeGreaterThan(0);
        }
      }
      for (const p of queryParams(op)) {
        for (const [path, s] of strings(p.schema, `${describeOp(op)} ?${p.name}`)) {
          if (s.enum || s.pattern?.startsWith('^(')) continue;
          expect(s.maxLength, path).toBeGreaterThan(0);
        }
      }
    }
  });

  it('one character over the maximum → 422 for each body field', async () => {
    for (const op of withBody()) {
      const props = op.bodies['application/json']?.properties ?? {};
      for (const [name, schema] of Object.entries<any>(props)) {
        const [, s] = strings(schema, name)[0] ?? [];
        if (!s?.maxLength || s.enum) continue;
        const req = await validRequest(world, op);
        const res = await send(world, op, req, { body: { ...req.body, [name]: 'a'.repeat(s.maxLength + 1) } });
        // A field allowed to be longer than the body limit is bounded by the limit first.
        if (s.maxLength + 1 > BODY_LIMIT) {
          expectProblem(res, 413);
          continue;
        }
        expectProblem(res, 422);
        expect(
          res.body.errors.map((e: { field: string }) => e.field),
          `${describeOp(op)} ${name}`,
        ).toContain(name);
      }
    }
  });
});

describe('page size', () => {
  it('every paged route caps limit at 100 and bounds offset', async () => {
    const paged = ops.filter((op) => queryParams(op).some((p) => p.name === 'limit'));
    expect(paged.length).toBeGreaterThanOrEqual(2);
    for (const op of paged) {
      const limit = queryParams(op).find((p) => p.name === 'limit');
      expect(limit?.schema.maximum, describeOp(op)).toBe(100);
      const req = await validRequest(world, op);
      expect((await send(world, op, req, { path: `${req.path}?limit=100` })).status).toBe(200);
      for (const bad of ['limit=101', 'limit=1000000', 'limit=0', 'limit=-1', 'offset=-1', 'offset=99999999999', 'limit=1e3']) {
        expectProblem(await send(world, op, req, { path: `${req.path}?${bad}` }), 422);
      }
    }
  });
});

describe('slow clients', () => {
  it('a client that opens a connection and sends nothing is cut off (see test/app.test.ts for trickled headers and bodies)', async () => {
    const short = await setupWorld({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    try {
      const { port } = new URL(short.baseUrl);
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
      const closed = await new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk;
        });
        socket.on('close', () => resolve(data));
        setTimeout(() => resolve('still open'), 20_000);
      });
      socket.destroy();
      expect(closed).not.toBe('still open');
      if (closed) expect(closed).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await short.close();
    }
  }, 60_000);
});
