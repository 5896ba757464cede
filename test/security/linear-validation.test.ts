import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAjv } from '../../src/lib/ajv.js';
import { openApiDocument, operations, type Operation as RouteOperation } from '../helpers/openapi.js';
import { setupWorld, type ValidRequest, validRequest, type World } from '../helpers/security.js';
import { type JsonSchema, type Operation, operationsOf } from './fuzz/openapi.js';

// Validation costs time linear in the length of what is validated (issue 12, item 1): a backtracking
// pattern, or a pattern still run on a value already refused for its length, let one 64 KB request block the
// event loop for seconds. Every string field of every route, read from /openapi.json, gets adversarial values
// at two sizes; the time for the larger must stay well under the 16-fold a quadratic check would take.
// Times are compared within one run (a ratio), never against an absolute figure.

let world: World;
let ops: Operation[];
/** The same operations in the shape the valid-request helper takes. */
let routes: RouteOperation[];
beforeAll(async () => {
  world = await setupWorld();
  ops = operationsOf(await openApiDocument(world.baseUrl));
  routes = await operations(world.baseUrl);
});
afterAll(() => world.close());

const GROWTH = 4;
/**
 * Quadratic is 16. Linear is 4 at most in theory (less with fixed costs), 4.5 to 6 in practice for a
 * regular expression over 64 K characters (caches, the backtracking stack): the bound leaves room for that.
 */
const MAX_RATIO = 10;
/** Query strings and headers travel in the head, which Node caps at 16 KB. */
const HEAD_BUDGET = 12_000;

const RUN_CHARS = ['a', 'Z', '0', ' ', '\t', '\u0085', '\u3000', '.', '-', '_', '@', ',', '+', '\\'];
const BODY_TAILS = ['', '\u0000', '\ud800', '!', '\n'];
// A head cannot carry NUL or a lone surrogate.
const HEAD_TAILS = ['', '!', '\u00ff'];

type Value = (n: number) => string;

function adversarial(tails: string[], head: boolean): Array<[string, Value]> {
  const out: Array<[string, Value]> = [];
  for (const ch of RUN_CHARS) {
    if (head && /[\t\u0085\u3000\\]/.test(ch)) continue;
    for (const tail of tails) out.push([`${JSON.stringify(ch)}×n+${JSON.stringify(tail)}`, (n) => ch.repeat(n) + tail]);
  }
  out.push(
    ['a@ a×n !', (n) => `a@${'a'.repeat(n)}!`],
    ['a@ (a.)×n !', (n) => `a@${'a.'.repeat(n / 2)}!`],
    ['(a.)×n @', (n) => `${'a.'.repeat(n / 2)}@`],
    ['x space×n x', (n) => `x${' '.repeat(n)}x`],
    ['(pending,)×n x', (n) => `${'pending,'.repeat(n / 8)}x`],
  );
  return out;
}

/** Characters of `value(n)` that fit `budget` bytes once encoded, rounded down to a multiple of 8. */
function fitting(value: Value, budget: number, encode: (s: string) => string): number {
  const perChar = Math.max(...[1, 8].map((n) => encode(value(n * 64)).length / (n * 64)));
  return Math.floor(budget / perChar / 8) * 8;
}

const isString = (s: JsonSchema | undefined): boolean =>
  !!s && (s.type === 'string' || (s.anyOf ?? s.oneOf ?? []).some((branch) => isString(branch)));

interface Field {
  op: Operation;
  in: 'body' | 'query' | 'header' | 'path';
  name: string;
  /** A body field that is a list of strings (labels): the value is sent as its one item. */
  list?: boolean;
}

function stringFields(): Field[] {
  const fields: Field[] = [];
  for (const op of ops) {
    for (const p of op.parameters) {
      if (p.in !== 'cookie' && isString(p.schema)) fields.push({ op, in: p.in, name: p.name });
    }
    const body = op.body?.['application/json'];
    for (const [name, schema] of Object.entries(body?.properties ?? {})) {
      // Bodies are flat; a nested object would need this walk extended, not skipped.
      expect(schema.type, `${op.method} ${op.path} ${name}`).not.toBe('object');
      if (isString(schema)) fields.push({ op, in: 'body', name });
      if (schema.type === 'array' && isString(schema.items)) fields.push({ op, in: 'body', name, list: true });
    }
  }
  return fields;
}

function schemaOf(field: Field): JsonSchema | undefined {
  if (field.in === 'body') return field.op.body?.['application/json']?.properties?.[field.name];
  return field.op.parameters.find((p) => p.in === field.in && p.name === field.name)?.schema;
}

function injection(field: Field, req: ValidRequest, value: string): InjectOptions {
  const headers: Record<string, string> = req.token ? { authorization: `Bearer ${req.token}` } : {};
  let url = req.path;
  let payload: string | undefined = req.body ? JSON.stringify(req.body) : undefined;
  if (field.in === 'body') payload = JSON.stringify({ ...req.body, [field.name]: field.list ? [value] : value });
  if (field.in === 'query') url = `${url}?${new URLSearchParams({ [field.name]: value })}`;
  if (field.in === 'header') headers[field.name] = value;
  if (field.in === 'path') url = url.replace(/\/[^/]+$/, `/${encodeURIComponent(value)}`);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return { method: field.op.method as InjectOptions['method'], url, headers, ...(payload === undefined ? {} : { payload }) };
}

/** Best of several runs of `run`, in milliseconds: the least disturbed by the rest of the machine. */
async function fastest(run: () => unknown, repetitions = 4): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repetitions; i++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/**
 * How much longer `run(large)` takes than `run(small)`. The machine is shared: a run that lost the CPU
 * midway only makes the smaller look slower (the ratio falls), while the larger is retried, up to ten
 * times, until a run shows it clearly linear (a quadratic check never does).
 */
async function growth(run: (v: string) => unknown, small: string, large: string): Promise<number> {
  const base = await fastest(() => run(small), 5);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10 && best / base >= (MAX_RATIO * 3) / 4; i++) best = Math.min(best, await fastest(() => run(large), 1));
  return best / base;
}

/** Calls of `test` on `value` that take about half a millisecond together: a ratio of microseconds would be noise. */
function callsFor(test: (v: string) => unknown, value: string): number {
  let calls = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) test(value);
    if (performance.now() - start >= 0.5 || calls >= 100_000) return calls;
    calls *= 4;
  }
}

describe('validation time is linear in the length of every string', () => {
  it('every pattern and format of every request schema, on its own (no length bound to hide behind)', async () => {
    const checks = new Map<string, (s: string) => unknown>();
    const ajv = createAjv();
    const visit = (s: JsonSchema | undefined) => {
      if (!s) return;
      const { pattern, format } = s as JsonSchema & { pattern?: string };
      // Compiled as ajv compiles them (`u` flag).
      if (pattern) {
        const re = new RegExp(pattern, 'u');
        checks.set(`pattern ${pattern}`, (v) => re.test(v));
      }
      if (format && s.type === 'string') checks.set(`format ${format}`, ajv.compile({ type: 'string', format }));
      for (const branch of [
        ...(s.anyOf ?? []),
        ...(s.oneOf ?? []),
        ...Object.values(s.properties ?? {}),
        ...(s.items ? [s.items] : []),
      ]) {
        visit(branch);
      }
    };
    for (const op of ops) {
      for (const p of op.parameters) visit(p.schema);
      for (const body of Object.values(op.body ?? {})) visit(body);
    }
    expect([...checks.keys()].some((k) => k.includes('format email'))).toBe(true);
    const n = fitting(
      (m) => 'a'.repeat(m),
      world.config.bodyLimitBytes,
      (s) => s,
    );
    const slowest: string[] = [];
    for (const [check, test] of checks) {
      for (const [label, value] of adversarial(BODY_TAILS, false)) {
        const small = value(n / GROWTH);
        const calls = callsFor(test, small);
        const loop = (v: string) => {
          for (let i = 0; i < calls; i++) test(v);
        };
        const ratio = await growth(loop, small, value(n));
        if (ratio >= MAX_RATIO) {
          slowest.push(`${check} on ${label}: ×${ratio.toFixed(1)}`);
          break;
        }
      }
    }
    expect(slowest).toEqual([]);
  });

  it('every string field of every route (body, query, path, header), through the app, at the body limit', async () => {
    const fields = stringFields();
    // Title, description, username, email, password, refresh token, search, filters, Idempotency-Key, If-Match…
    expect(fields.length).toBeGreaterThanOrEqual(20);
    const slowest: string[] = [];
    for (const field of fields) {
      const route = routes.find((r) => r.method === field.op.method && r.path === field.op.path) as RouteOperation;
      const req = await validRequest(world, route);
      const head = field.in !== 'body';
      const encode = head ? (s: string) => encodeURIComponent(s) : (s: string) => Buffer.from(JSON.stringify(s)).toString();
      for (const [label, value] of adversarial(head ? HEAD_TAILS : BODY_TAILS, head)) {
        const n = fitting(value, head ? HEAD_BUDGET : world.config.bodyLimitBytes - 1024, encode);
        const send = async (v: string) => {
          const res = await world.app.inject(injection(field, req, v));
          // Refused for its length, quickly and cleanly: never a 500.
          expect(res.statusCode, `${field.op.method} ${field.op.path} ${field.in} ${field.name} ${label}`).toBeLessThan(500);
        };
        const ratio = await growth(send, value(n / GROWTH), value(n));
        if (ratio >= MAX_RATIO) {
          slowest.push(`${field.op.method} ${field.op.path} ${field.in} ${field.name} on ${label}: ×${ratio.toFixed(1)}`);
          break;
        }
      }
    }
    expect(slowest).toEqual([]);
  }, 240_000);

  it('a value refused for its length is checked no further: no pattern or format error, only the length', async () => {
    let checked = 0;
    for (const field of stringFields()) {
      const schema = schemaOf(field);
      const guarded = [...(schema?.anyOf ?? []), schema].find(
        (s) => s?.maxLength !== undefined && ((s as { pattern?: string }).pattern !== undefined || s.format !== undefined),
      );
      if (!guarded?.maxLength) continue;
      const route = routes.find((r) => r.method === field.op.method && r.path === field.op.path) as RouteOperation;
      const req = await validRequest(world, route);
      // Too long, and failing the pattern or format as well (no pattern here allows `!` and a control character).
      const value = field.in === 'body' ? `\u0000${'!'.repeat(guarded.maxLength)}` : '!'.repeat(guarded.maxLength + 1);
      const res = await world.app.inject(injection(field, req, value));
      const label = `${field.op.method} ${field.op.path} ${field.in} ${field.name}`;
      expect(res.statusCode, label).toBe(422);
      const errors = (res.json().errors as Array<{ field: string; message: string }>).filter((e) => e.field === field.name);
      expect(
        errors.map((e) => e.message),
        label,
      ).toContain(`must NOT have more than ${guarded.maxLength} characters`);
      // Neither the pattern ("contains characters that are not allowed") nor the format ran.
      expect(
        errors.filter((e) => /not allowed|must match format/.test(e.message)),
        label,
      ).toEqual([]);
      checked++;
    }
    // Title, description, username, email, password, search, filters, Idempotency-Key at least.
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('over HTTP, a /healthz sent while the largest adversarial title is validated is answered promptly', async () => {
    const { token } = world.alice;
    const n = world.config.bodyLimitBytes - 1024;
    const post = (title: string) =>
      fetch(`${world.baseUrl}/api/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        // A lone surrogate, escaped as JSON allows.
        body: `{"title":"${title}"}`,
      });
    // The same size, refused for its length at once even by a backtracking pattern: the yardstick.
    const plain = await fastest(async () => (await post('a'.repeat(n))).text(), 3);
    const ratios: number[] = [];
    for (let trial = 0; trial < 3; trial++) {
      let done = false;
      const attack = post(`${'a'.repeat(n)}\\ud800`).then(async (res) => {
        done = true;
        expect(res.status).toBe(422);
        return res.text();
      });
      const waits: number[] = [];
      do {
        const start = performance.now();
        const health = await fetch(`${world.baseUrl}/healthz`);
        await health.text();
        expect(health.status).toBe(200);
        waits.push(performance.now() - start);
      } while (!done);
      await attack;
      ratios.push(Math.max(...waits) / plain);
    }
    // Blocked, the longest wait is the whole validation: hundreds of times the yardstick.
    expect(Math.min(...ratios)).toBeLessThan(10);
  }, 120_000);
});
