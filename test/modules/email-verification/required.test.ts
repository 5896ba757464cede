import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../src/config.js';
import { UNVERIFIED_EMAIL } from '../../../src/modules/email-verification/index.js';
import { registerAndLogin, startApp } from '../../helpers/app.js';
import { useMailWorld } from '../../helpers/mail-world.js';
import { describeOp, fillPath, type Operation, operations } from '../../helpers/openapi.js';

const PUBLIC_URL = 'https://tasks.example.test';
const LINK = /verify-email\?token=([A-Za-z0-9_-]{43})/;

/** What an account whose email is not verified may still do under REQUIRE_VERIFIED_EMAIL (logout is tried apart: it ends the login). */
const OPEN_TO_UNVERIFIED = new Set([
  'GET /api/v1/users/me',
  'PATCH /api/v1/users/me',
  'POST /api/v1/auth/verify-email/resend',
  'GET /api/v1/users/me/sessions',
  'DELETE /api/v1/users/me/sessions/{id}',
  'DELETE /api/v1/users/me/sessions',
]);
/** Open too, but they end the login making the requests: tried apart. */
const ENDING = new Set(['POST /api/v1/auth/logout', 'POST /api/v1/auth/logout-all']);

const world = useMailWorld(PUBLIC_URL);

async function start(overrides: Partial<AppConfig> = {}) {
  return world.track(await startApp(world.config(overrides)));
}

/** Every secured operation of the document, called by `token` with a placeholder id and an empty body. */
async function callEach(baseUrl: string, ops: Operation[], token: string) {
  const answers: Array<{ op: string; status: number; detail: unknown }> = [];
  for (const op of ops) {
    const hasBody = Object.keys(op.bodies).length > 0;
    const res = await fetch(`${baseUrl}${fillPath(op.path, 1)}`, {
      method: op.method,
      headers: { authorization: `Bearer ${token}`, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
      body: hasBody ? '{}' : undefined,
    });
    // A stream stays open: its status is the answer.
    const streaming = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
    const text = streaming ? '' : await res.text();
    if (streaming) await res.body?.cancel();
    answers.push({ op: describeOp(op), status: res.status, detail: text.startsWith('{') ? JSON.parse(text).detail : undefined });
  }
  return answers;
}

async function verify(email: string, skip = 0) {
  const mail = await world.smtp.waitFor(email, { skip });
  const token = LINK.exec(mail.parsed.text ?? '')?.[1];
  expect(token, mail.parsed.text).toBeDefined();
  return token as string;
}

describe('REQUIRE_VERIFIED_EMAIL', () => {
  it('off (the default): an unverified account uses every route', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'lax');
    expect((await api.get('/users/me', { token: u.token })).body.email_verified).toBe(false);
    const list = await api.get('/tasks', { token: u.token });
    expect(list.status, list.text).toBe(200);
    expect((await api.post('/tasks', { title: 'unverified, allowed' }, { token: u.token })).status).toBe(201);
  });

  it('on: an unverified account logs in and manages itself; every other route is a 403 saying why, until it verifies', async () => {
    const { api, baseUrl, config } = await start({ emailVerification: { ...world.config().emailVerification, required: true } });
    expect(config.emailVerification.required).toBe(true);
    const u = await registerAndLogin(api, 'strict');
    // An admin, so that the admin routes too answer for the email rather than for the role.
    await world.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [u.id]);
    const secured = (await operations(baseUrl)).filter((op) => op.secured && !ENDING.has(describeOp(op)));
    expect(secured.length).toBeGreaterThan(15);

    const before = await callEach(baseUrl, secured, u.token);
    const refused = before.filter((a) => a.status === 403 && a.detail === UNVERIFIED_EMAIL).map((a) => a.op);
    const expected = secured.map(describeOp).filter((op) => !OPEN_TO_UNVERIFIED.has(op));
    expect(refused.sort()).toEqual(expected.sort());
    // What stays open works: the profile says why, and a new link can be asked for.
    const me = await api.get('/users/me', { token: u.token });
    expect(me.status).toBe(200);
    expect(me.body.email_verified).toBe(false);

    // Nothing was written by the refused requests.
    const { rows } = await world.db.pool.query('SELECT count(*)::int AS n FROM tasks WHERE user_id = $1', [u.id]);
    expect(rows[0].n).toBe(0);

    const done = await api.post('/auth/verify-email', { token: await verify(u.email, 1) });
    expect(done.status, done.text).toBe(204);
    const after = await callEach(baseUrl, secured, u.token);
    expect(after.filter((a) => a.detail === UNVERIFIED_EMAIL)).toEqual([]);
    expect((await api.post('/tasks', { title: 'verified now' }, { token: u.token })).status).toBe(201);
    expect((await api.post('/auth/logout', undefined, { token: u.token })).status).toBe(204);
  });

  it.each([...ENDING])(
    'on: an unverified account can end its login (%s); refusals carry the explanation as problem+json',
    async (op) => {
      const { api } = await start({ emailVerification: { ...world.config().emailVerification, required: true } });
      const u = await registerAndLogin(api, 'leaving');
      const refused = await api.get('/tasks', { token: u.token });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body.detail).toBe(UNVERIFIED_EMAIL);
      const ended = await api.post(op.replace('POST /api/v1', ''), undefined, { token: u.token });
      expect(ended.status, ended.text).toBe(204);
      expect((await api.get('/users/me', { token: u.token })).status).toBe(401);
    },
  );

  it('on, with the login cache: verifying takes effect once the change is announced (a moment after the commit)', async () => {
    const { api } = await start({
      authCacheTtlMs: 60_000,
      emailVerification: { ...world.config().emailVerification, required: true },
    });
    const u = await registerAndLogin(api, 'cached');
    expect((await api.get('/tasks', { token: u.token })).status).toBe(403);
    expect((await api.get('/tasks', { token: u.token })).status).toBe(403); // served from the cache
    expect((await api.post('/auth/verify-email', { token: await verify(u.email) })).status).toBe(204);
    // The cache hears of the change through LISTEN/NOTIFY, as it does of every other change to the account.
    let next = await api.get('/tasks', { token: u.token });
    for (let i = 0; i < 50 && next.status === 403; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      next = await api.get('/tasks', { token: u.token });
    }
    expect(next.status, next.text).toBe(200);
  });
});
