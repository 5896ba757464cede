import { describe, expect, it } from 'vitest';
import { describeOp, type Operation } from '../helpers/openapi.js';
import { expectProblem, useWorldAndOperations, validRequest } from '../helpers/security.js';

// Bodies are read as UTF-8 (RFC 8259 §8.1). A body that declares another charset would be misread: 415.
const suite = useWorldAndOperations();

const withBody = () => suite.ops.filter((op) => Object.keys(op.bodies).length > 0);

/** The operation's valid request, encoded for `mediaType` and sent with `contentType`. */
async function sendAs(op: Operation, mediaType: string, contentType: string, caller = suite.world.alice) {
  const req = await validRequest(suite.world, op, caller);
  const body = req.body ?? {};
  const raw =
    mediaType === 'application/x-www-form-urlencoded'
      ? new URLSearchParams(body as Record<string, string>).toString()
      : JSON.stringify(body);
  return suite.world.root.request(op.method, req.path, undefined, {
    ...(req.token ? { token: req.token } : {}),
    raw,
    headers: { 'content-type': contentType },
  });
}

describe('charset of request bodies', () => {
  it('a body in any charset but UTF-8 is a 415 problem+json on every route that takes one, JSON and form', async () => {
    let checked = 0;
    for (const op of withBody()) {
      for (const mediaType of Object.keys(op.bodies)) {
        for (const charset of ['utf-7', 'UTF-7', 'iso-8859-1', 'utf-16', '"utf-16le"', 'no-such-charset', '']) {
          const res = await sendAs(op, mediaType, `${mediaType}; charset=${charset}`);
          expectProblem(res, 415);
          expect(res.body.detail, `${describeOp(op)} ${mediaType} ${charset}`).toMatch(/UTF-8/);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(7 * 8);
  });

  it('no charset, or UTF-8 under any of its names, is accepted', async () => {
    for (const op of withBody()) {
      for (const mediaType of Object.keys(op.bodies)) {
        for (const contentType of [
          mediaType,
          `${mediaType}; charset=utf-8`,
          `${mediaType};charset=UTF-8`,
          `${mediaType}; Charset="utf-8"`,
          `${mediaType}; charset=utf8`,
        ]) {
          const res = await sendAs(op, mediaType, contentType);
          expect(res.status, `${describeOp(op)} ${contentType}: ${res.text}`).toBeLessThan(300);
        }
      }
    }
  });

  it('nothing is stored from a refused body, and a request without a token is still a 401 first', async () => {
    const { api, alice } = suite.world;
    const title = 'utf-7 +AGEAYgBj-';
    const refused = await api.post('/tasks', undefined, {
      token: alice.token,
      raw: JSON.stringify({ title }),
      headers: { 'content-type': 'application/json; charset=utf-7' },
    });
    expectProblem(refused, 415);
    const { rowCount } = await suite.world.db.pool.query('SELECT 1 FROM tasks WHERE title = $1', [title]);
    expect(rowCount).toBe(0);
    const anonymous = await api.post('/tasks', undefined, {
      raw: JSON.stringify({ title }),
      headers: { 'content-type': 'application/json; charset=utf-7' },
    });
    expectProblem(anonymous, 401);
  });

  it('a bodiless request may carry any Content-Type: it is not read', async () => {
    const res = await suite.world.api.get('/users/me', {
      token: suite.world.alice.token,
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
    });
    expect(res.status).toBe(200);
  });
});
