import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitsOutOfReach, setupTestApp, type TestContext } from '../helpers/app.js';
import { Contract, exchangeOf } from './fuzz/contract.js';
import { type Document, type Operation, operationsOf } from './fuzz/openapi.js';
import { type FuzzRequest, requestFor } from './fuzz/requests.js';
import { type Response, type SentRequest, send, sessionOf, World } from './fuzz/world.js';

/**
 * Property-based fuzzing of every operation in the running app's /openapi.json (new routes are
 * fuzzed without edits): arbitrary and schema-shaped-but-mutated bodies, query strings, path ids and
 * headers, as a user (A), an admin and anonymously. Every response must be a documented kind of
 * answer (no 5xx but a documented 503; every error problem+json with a string `detail` and the HTTP
 * status in `status`), every exchange keeps the document (an accepted request is valid per the
 * document; documented response headers and bodies match their schemas: see fuzz/contract.ts), and
 * nothing A or an anonymous caller sends may change or reveal B's data.
 *
 * Bounded: FUZZ_RUNS cases or FUZZ_SECONDS seconds, whichever comes first (defaults 5000 and 25).
 * The seed is printed; FUZZ_SEED=<seed> replays a run (fast-check's report also gives its path).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 5000);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 25);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;

let ctx: TestContext;
let world: World;
let operations: Operation[];
let contract: Contract;

beforeAll(async () => {
  ctx = await setupTestApp({
    // Limits on but out of reach: their code (keys from the token or the forwarded address) is
    // fuzzed too, without locking the fuzzed accounts out. X-Forwarded-For from loopback is believed.
    rateLimit: limitsOutOfReach(),
    trustProxy: ['127.0.0.1', '::1'],
  });
  world = new World(ctx.baseUrl, ctx.api, ctx.db.pool);
  await world.setup();
  const doc = await fetch(`${ctx.baseUrl}/openapi.json`).then((r) => r.json() as Promise<Document>);
  operations = operationsOf(doc);
  contract = new Contract(doc);
});
afterAll(() => ctx?.close());

function describeRequest(sent: SentRequest, request: FuzzRequest, response?: Response): string {
  const body =
    sent.body === undefined ? '' : ` body ${JSON.stringify(sent.body.slice(0, 300))}${sent.body.length > 300 ? '…' : ''}`;
  const headers = JSON.stringify({ ...sent.headers, authorization: sent.headers.authorization?.slice(0, 20) }).slice(0, 400);
  const answer = response ? ` → ${response.status} ${response.headers['content-type'] ?? ''} ${response.text.slice(0, 300)}` : '';
  return `${sent.method} ${sent.path.slice(0, 300)} as ${request.actor} headers ${headers}${body}${answer}`;
}

/** What must hold for every response. */
function checkResponse(
  request: FuzzRequest,
  sent: SentRequest,
  response: Response,
  victimMarker: string,
  allowed: string[],
): void {
  const where = describeRequest(sent, request, response);
  if (response.status >= 500) {
    expect(response.status === 503 && request.operation.statuses.has('503'), `server error: ${where}`).toBe(true);
  }
  if (response.status >= 400) {
    expect(response.headers['content-type'] ?? '', `error is not problem+json: ${where}`).toMatch(/^application\/problem\+json/);
    let problem: { detail?: unknown; status?: unknown };
    try {
      problem = JSON.parse(response.text);
    } catch {
      throw new Error(`error body is not JSON: ${where}`);
    }
    expect(typeof problem.detail, `problem without a string detail: ${where}`).toBe('string');
    expect(problem.status, `problem status differs from the HTTP status: ${where}`).toBe(response.status);
  }
  const broken = contract.check(exchangeOf(request.operation.path, sent, response));
  expect(broken.length, `the exchange breaks the OpenAPI document (${broken.join('; ')}): ${where}`).toBe(0);
  // Only an admin may see B; the fuzzer never puts B's marker in a request, so it cannot be echoed.
  const asAdmin = request.actor === 'admin' && request.authorization === undefined;
  if (!asAdmin) {
    let seen = `${JSON.stringify(response.headers)}\n${response.text}`;
    for (const text of allowed) seen = seen.replaceAll(text, '');
    expect(seen.includes(victimMarker), `B's data revealed: ${where}`).toBe(false);
  }
}

/** Follows what the fuzzed request did to its caller's own login, so the run goes on as that caller. */
async function keepCallerLoggedIn(request: FuzzRequest, sent: SentRequest, response: Response): Promise<void> {
  const account = world.account(request.actor);
  if (!account || request.authorization !== undefined) return;
  const { operation } = request;
  if (request.actor === 'admin') {
    // An admin may promote C and then demote or deactivate itself: put it back, as an operator would.
    await ctx.db.pool.query(
      "UPDATE users SET role = 'admin', is_active = true WHERE id = $1 AND (role <> 'admin' OR NOT is_active)",
      [account.id],
    );
  }
  if (operation.method === 'PATCH' && operation.path.endsWith('/users/me') && response.status === 200) {
    const changed = JSON.parse(sent.body ?? '{}') as { password?: string };
    if (typeof changed.password === 'string') account.password = changed.password;
  }
  if (operation.path.endsWith('/auth/refresh') && response.status === 200) {
    // Only the caller's own refresh token can succeed, so the new pair is the caller's.
    const pair = JSON.parse(response.text);
    account.token = pair.access_token;
    account.refresh = pair.refresh_token;
  }
  if (response.status === 401 && operation.secured) {
    // The caller's own, unaltered token was refused: only right if its login has ended (a fuzzed
    // logout, a reused refresh token, a deactivation). Then log in again and carry on.
    const sessionId = sessionOf(sent.headers.authorization?.replace(/^Bearer /, '') ?? '');
    const ended = sessionId ? await world.sessionRevoked(sessionId) : false;
    const state = await world.roleOf(account.id);
    expect(ended || state?.is_active === false, `a live login was refused: ${describeRequest(sent, request, response)}`).toBe(
      true,
    );
    await world.login(account);
    world.relogins += 1;
  }
}

describe('fuzzing every operation in /openapi.json', () => {
  it(
    'answers without 5xx, errors are problem+json, and A never changes or sees B',
    async () => {
      expect(operations.length).toBeGreaterThanOrEqual(15);
      const victimBefore = await world.victimState();
      expect(victimBefore).toContain(world.marker);
      expect(victimBefore).toContain(world.shared.marker);
      let viewTasks = (await world.states()).viewTasks;
      const statuses = new Map<string, number>();
      let cases = 0;
      let restores = 0;
      const started = performance.now();

      const property = fc.asyncProperty(
        fc.constantFrom(...operations).chain((operation) => requestFor(operation)),
        async (request) => {
          // A may have left a shared project: put A back before A's next few requests (a DELETE answered 400
          // for a malformed body may still remove A, committing after the answer).
          if (request.actor === 'user' && restores > 0) {
            restores -= 1;
            await world.shared.restore();
          }
          if (
            request.actor === 'user' &&
            request.operation.method === 'DELETE' &&
            request.operation.path.endsWith('/members/{user_id}')
          )
            restores = 3;
          const sent = await world.build(request);
          let response: Response;
          try {
            response = await send(ctx.baseUrl, sent);
          } catch (err) {
            throw new Error(`no answer (${(err as Error).message}): ${describeRequest(sent, request)}`);
          }
          cases += 1;
          const key = `${request.operation.method} ${request.operation.path} ${request.actor}${request.authorization === undefined ? '' : '(mangled)'} ${response.status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          checkResponse(
            request,
            sent,
            response,
            world.marker,
            // B's username (which carries the marker) is A's to see in a shared project's members.
            request.actor === 'user' && world.shared.namesMembers(sent.path) ? [world.victim.username] : [],
          );
          await keepCallerLoggedIn(request, sent, response);
          const after = await world.states();
          expect(after.victim, `B's rows changed after ${describeRequest(sent, request, response)}`).toBe(victimBefore);
          // Others' tasks in the project A only views: an admin may move them, A never.
          if (request.actor !== 'admin') {
            expect(after.viewTasks, `a viewed project's tasks changed after ${describeRequest(sent, request, response)}`).toBe(
              viewTasks,
            );
          }
          viewTasks = after.viewTasks;
          expect((await world.roleOf(world.user.id))?.role, `A's role changed: ${describeRequest(sent, request, response)}`).toBe(
            'user',
          );
        },
      );
      const details = await fc.check(property, {
        seed: SEED,
        numRuns: RUNS,
        interruptAfterTimeLimit: SECONDS * 1000,
        markInterruptAsFailure: false,
        // The server's state moves on with every request, so a shrunk replay would not mean the
        // same: the first failing request is the one reported (with the seed to replay the run).
        endOnFailure: true,
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `fuzz: ${cases} requests (${details.numRuns} cases) over ${operations.length} operations in ${seconds} s, seed ${SEED}, ${world.relogins} re-logins`,
      );
      if (process.env.FUZZ_VERBOSE)
        console.log(
          [...statuses]
            .sort()
            .map(([k, n]) => `${k}: ${n}`)
            .join('\n'),
        );
      if (details.failed) {
        const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        throw new Error(`${cause}\n\n${fc.defaultReportMessage(details) ?? ''}`);
      }
      // Every operation was reached, and the run did exercise errors and successes.
      const reached = new Set([...statuses.keys()].map((k) => k.split(' ').slice(0, 2).join(' ')));
      if (cases >= 300) expect(reached.size).toBe(operations.length);
      expect([...statuses.keys()].some((k) => k.endsWith(' 422'))).toBe(true);
      expect([...statuses.keys()].some((k) => / 2\d\d$/.test(k))).toBe(true);
      expect(await world.victimState()).toBe(victimBefore);
    },
    (SECONDS + 180) * 1000,
  );
});
