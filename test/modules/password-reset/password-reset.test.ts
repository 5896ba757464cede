import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { type AppConfig, loadConfig } from '../../../src/config.js';
import { REDACTED_PATHS } from '../../../src/logger.js';
import { limitsOn, registerAndLogin } from '../../helpers/app.js';
import { type HttpClient, httpClient } from '../../helpers/http.js';
import { useMailWorld } from '../../helpers/mail-world.js';
import type { ReceivedMail } from '../../helpers/smtp.js';

const PUBLIC_URL = 'https://tasks.example.test/app';
const TOKEN_IN_LINK = /^https:\/\/tasks\.example\.test\/app\/reset-password\?token=([A-Za-z0-9_-]{43})$/;
const RESET = 'Reset your task-api password';
const ACCEPTED = { detail: 'If an active account has this email, a link to reset its password is on its way' };

const world = useMailWorld(PUBLIC_URL);
/** Every log line every app of this file wrote, as written. */
let logs = '';

interface Started {
  api: HttpClient;
  baseUrl: string;
  config: AppConfig;
}

/** The app, mailing to the test SMTP server (unless overridden), with its logs captured at debug level. */
async function start(overrides: Partial<AppConfig> = {}): Promise<Started> {
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logs += chunk.toString();
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
  const config = world.config(overrides);
  const app = world.track(await buildApp(config, { loggerInstance: logger }));
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  return { api: httpClient(`${baseUrl}/api/v1`), baseUrl, config };
}

/** The token of a reset mail, checked to be the link's only secret. */
function tokenOf(mail: ReceivedMail): string {
  const links = (mail.parsed.text ?? '').match(/https?:\/\/\S+/g) ?? [];
  expect(links).toHaveLength(1);
  const match = TOKEN_IN_LINK.exec(links[0] as string);
  expect(match, links[0]).not.toBeNull();
  return match?.[1] as string;
}

async function resetMail(api: HttpClient, email: string, skip = 0): Promise<{ mail: ReceivedMail; token: string }> {
  const res = await api.post('/auth/password-reset', { email });
  expect(res.status, res.text).toBe(202);
  const mail = await world.smtp.waitFor(email, { skip, subject: RESET });
  return { mail, token: tokenOf(mail) };
}

/** Reset mails to `email` (registration also mails a verification link). */
const mailsTo = (email: string) =>
  world.smtp.received.filter((m) => m.envelopeTo.includes(email) && m.parsed.subject === RESET).length;

/** Waits until the queue is empty (every mail sent or dropped) and a little more. */
async function queueDrained(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await world.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM mail_queue');
    if (rows[0]?.n === 0) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 200));
}

describe('password reset by email', () => {
  it('mails a link to PUBLIC_URL with a 43-character token, in a text and an HTML part, and nothing else secret', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'mailme');
    const { mail, token } = await resetMail(api, u.email);
    expect(mail.envelopeTo).toEqual([u.email]);
    expect(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.value.map((a) => a.address) : []).toEqual([u.email]);
    expect(mail.parsed.subject).toBe('Reset your task-api password');
    expect(mail.parsed.text).toContain(`Hello ${u.username},`);
    expect(mail.parsed.text).toContain('within 30 minutes');
    const html = mail.parsed.html as string;
    expect(html).toContain(`<a href="${PUBLIC_URL}/reset-password?token=${token}">`);
    expect(html).toContain(`Hello ${u.username},`);
    // The token is the one secret: no password, hash, access or refresh token, and no request host.
    const { rows } = await world.db.pool.query('SELECT hashed_password FROM users WHERE id = $1', [u.id]);
    for (const secret of [u.password, rows[0].hashed_password, u.token, u.refreshToken, '127.0.0.1']) {
      expect(mail.raw).not.toContain(secret);
    }
    // The queue kept no copy of it once sent, and the database holds only its digest.
    expect(
      (await world.db.pool.query("SELECT count(*)::int AS n FROM mail_queue WHERE template = 'password-reset'")).rows[0].n,
    ).toBe(0);
    const stored = await world.db.pool.query('SELECT encode(token_hash, $2) AS h FROM password_reset_tokens WHERE user_id = $1', [
      u.id,
      'hex',
    ]);
    expect(stored.rows.map((r) => r.h)).toEqual([(await import('node:crypto')).createHash('sha256').update(token).digest('hex')]);
  });

  it('confirm works once: the new password logs in, the old does not, every session ends; a second use is the 400', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'confirm');
    const second = await api.post('/auth/login', { username: u.username, password: u.password });
    const { token } = await resetMail(api, u.email);

    const done = await api.post('/auth/password-reset/confirm', { token, new_password: 'a brand new password' });
    expect(done.status, done.text).toBe(204);
    expect(done.text).toBe('');

    for (const access of [u.token, second.body.access_token]) {
      expect((await api.get('/users/me', { token: access })).status).toBe(401);
    }
    expect((await api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(401);
    expect((await api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(401);
    expect((await api.post('/auth/login', { username: u.username, password: 'a brand new password' })).status).toBe(200);

    const again = await api.post('/auth/password-reset/confirm', { token, new_password: 'yet another password' });
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body.detail).toBe('Invalid or expired password reset token');
    expect((await api.post('/auth/login', { username: u.username, password: 'a brand new password' })).status).toBe(200);
  });

  it('a used, expired, replaced and unknown token get one 400, byte for byte', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'expired');
    const send = (token: string) => api.post('/auth/password-reset/confirm', { token, new_password: 'whatever password' });

    const unknown = await send('A'.repeat(43));
    const junk = await send('not a token');
    expect(unknown.status).toBe(400);

    const { token: older } = await resetMail(api, u.email);
    const { token: newer } = await resetMail(api, u.email, 1);
    expect(newer).not.toBe(older);
    const replaced = await send(older);

    await world.db.pool.query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1", [
      u.id,
    ]);
    const expired = await send(newer);

    const { token: fresh } = await resetMail(api, u.email, 2);
    expect((await send(fresh)).status).toBe(204);
    const used = await send(fresh);

    for (const res of [junk, replaced, expired, used]) {
      expect(res.status).toBe(400);
      expect(res.text).toBe(unknown.text);
      expect(res.headers.get('content-type')).toBe(unknown.headers.get('content-type'));
    }
    // None of the refused ones changed the password.
    expect((await api.post('/auth/login', { username: u.username, password: 'whatever password' })).status).toBe(200);
  });

  it('a newer request voids the older token', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'newer');
    const { token: first } = await resetMail(api, u.email);
    const { token: second } = await resetMail(api, u.email, 1);
    expect((await api.post('/auth/password-reset/confirm', { token: first, new_password: 'first new password' })).status).toBe(
      400,
    );
    expect((await api.post('/auth/password-reset/confirm', { token: second, new_password: 'second new password' })).status).toBe(
      204,
    );
  });

  it('an unknown email gets the same 202 and no mail', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'known');
    const known = await api.post('/auth/password-reset', { email: u.email });
    const unknown = await api.post('/auth/password-reset', { email: `nobody-${u.username}@example.com` });
    expect(unknown.status).toBe(202);
    expect(unknown.text).toBe(known.text);
    expect(unknown.body).toEqual(ACCEPTED);
    expect(unknown.headers.get('content-length')).toBe(known.headers.get('content-length'));
    await world.smtp.waitFor(u.email, { subject: RESET });
    await queueDrained();
    expect(mailsTo(`nobody-${u.username}@example.com`)).toBe(0);
    // The email is matched as stored (lower case).
    const upper = await api.post('/auth/password-reset', { email: u.email.toUpperCase() });
    expect(upper.text).toBe(known.text);
    await world.smtp.waitFor(u.email, { skip: 1, subject: RESET });
  });

  it('a deactivated account gets the 202 and no mail, and its earlier token is refused', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'inactive');
    const { token } = await resetMail(api, u.email);
    await world.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [u.id]);

    const res = await api.post('/auth/password-reset', { email: u.email });
    expect(res.status).toBe(202);
    expect(res.body).toEqual(ACCEPTED);
    await queueDrained();
    expect(mailsTo(u.email)).toBe(1);

    const refused = await api.post('/auth/password-reset/confirm', { token, new_password: 'while deactivated' });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toBe('Invalid or expired password reset token');
    // Reactivated, the account still has its old password: the token was not spent on it.
    await world.db.pool.query('UPDATE users SET is_active = true WHERE id = $1', [u.id]);
    expect((await api.post('/auth/login', { username: u.username, password: u.password })).status).toBe(200);
  });

  it('limits requests per target email and per client address: 429 with Retry-After', async () => {
    const { api } = await start({
      rateLimit: limitsOn(),
      trustProxy: true,
      passwordReset: { tokenMinutes: 30, addressMax: 3, emailMax: 2, windowMs: 60_000 },
    });
    const u = await registerAndLogin(api, 'limited');
    const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });
    // Per email: the third request for one address is refused, whichever client sends it; any case.
    expect((await api.post('/auth/password-reset', { email: u.email }, from('192.0.2.1'))).status).toBe(202);
    expect((await api.post('/auth/password-reset', { email: u.email.toUpperCase() }, from('192.0.2.2'))).status).toBe(202);
    const perEmail = await api.post('/auth/password-reset', { email: u.email }, from('192.0.2.3'));
    expect(perEmail.status).toBe(429);
    expect(Number(perEmail.headers.get('retry-after'))).toBeGreaterThan(0);
    // An unknown email is counted alike: the 429 tells nothing about who exists.
    const ghost = `ghost-${u.username}@example.com`;
    await api.post('/auth/password-reset', { email: ghost }, from('192.0.2.4'));
    await api.post('/auth/password-reset', { email: ghost }, from('192.0.2.5'));
    const ghostLimited = await api.post('/auth/password-reset', { email: ghost }, from('192.0.2.6'));
    expect(ghostLimited.status).toBe(429);
    expect(ghostLimited.body.detail).toBe(perEmail.body.detail);
    // Per address: the fourth request from one client is refused, whatever the email.
    for (let i = 0; i < 3; i++) {
      expect(
        (await api.post('/auth/password-reset', { email: `other${i}-${u.username}@example.com` }, from('192.0.2.9'))).status,
      ).toBe(202);
    }
    const perAddress = await api.post('/auth/password-reset', { email: `other9-${u.username}@example.com` }, from('192.0.2.9'));
    expect(perAddress.status).toBe(429);
    expect(perAddress.headers.get('retry-after')).not.toBeNull();
  });

  it('with the mail server down the request is still a quick 202, and the mail goes out once it is back', async () => {
    const { api } = await start();
    const u = await registerAndLogin(api, 'retry');
    await world.smtp.stop();
    const began = Date.now();
    const res = await api.post('/auth/password-reset', { email: u.email });
    expect(res.status).toBe(202);
    expect(Date.now() - began).toBeLessThan(1_000);
    // Attempts fail meanwhile; the mail waits in the queue, its token sealed (never in the clear).
    for (let i = 0; i < 100; i++) {
      const { rows } = await world.db.pool.query<{ attempts: number }>(
        "SELECT attempts FROM mail_queue WHERE template = 'password-reset'",
      );
      if ((rows[0]?.attempts ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const { rows } = await world.db.pool.query(
      "SELECT recipient, params::text AS params, secret, attempts FROM mail_queue WHERE template = 'password-reset'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].recipient).toBe(u.email);
    expect(rows[0].attempts).toBeGreaterThanOrEqual(2);
    expect(mailsTo(u.email)).toBe(0);

    await world.smtp.start();
    const mail = await world.smtp.waitFor(u.email, { subject: RESET });
    const token = tokenOf(mail);
    expect(rows[0].params).not.toContain(token);
    expect((rows[0].secret as Buffer).toString('latin1')).not.toContain(token);
    expect((rows[0].secret as Buffer).toString('base64url')).not.toContain(token);
    expect((await api.post('/auth/password-reset/confirm', { token, new_password: 'after the outage' })).status).toBe(204);
  });

  it('two instances share the queue: every mail goes out once', async () => {
    const jwtSecret = randomBytes(32).toString('base64url');
    const passwordPepper = randomBytes(32).toString('base64url');
    const one = await start({ jwtSecret, passwordPepper });
    const two = await start({ jwtSecret, passwordPepper });
    const accounts = await Promise.all(Array.from({ length: 6 }, (_, i) => registerAndLogin(one.api, `twice${i}`)));
    // Queued by both, claimed by either: each sender polls the other's rows too.
    await Promise.all(accounts.map((u, i) => (i % 2 ? one : two).api.post('/auth/password-reset', { email: u.email })));
    await Promise.all(accounts.map((u) => world.smtp.waitFor(u.email, { subject: RESET })));
    await queueDrained();
    expect(accounts.map((u) => mailsTo(u.email))).toEqual(accounts.map(() => 1));
  });

  it('a mail server that accepts connections and never answers does not slow the request', async () => {
    // A TCP server that takes connections and says nothing (no SMTP greeting), as a hung mail server does.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { api } = await start({ smtpUrl: `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}` });
      const u = await registerAndLogin(api, 'hung');
      const began = Date.now();
      const res = await api.post('/auth/password-reset', { email: u.email });
      expect(res.status).toBe(202);
      expect(Date.now() - began).toBeLessThan(1_000);
      // The sender did try (a connection is open and waiting for a greeting); the mail waits in the queue.
      for (let i = 0; i < 100 && sockets.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(sockets.length).toBeGreaterThan(0);
      expect(
        (await world.db.pool.query("SELECT count(*)::int AS n FROM mail_queue WHERE template = 'password-reset'")).rows[0].n,
      ).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('without SMTP_URL outside production, mails are .eml files under DATA_DIR/mail with a link to http://127.0.0.1:PORT', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'task-api-mail-'));
    try {
      // PUBLIC_URL as the configuration defaults it outside production: this server's own address.
      const { publicUrl } = loadConfig({ NODE_ENV: 'test', PORT: '8123' });
      const { api, config } = await start({ smtpUrl: undefined, publicUrl, dataDir });
      expect(config.nodeEnv).toBe('test');
      const u = await registerAndLogin(api, 'eml');
      expect((await api.post('/auth/password-reset', { email: u.email })).status).toBe(202);
      const dir = path.join(dataDir, 'mail');
      // The registration's verification mail, then the reset mail.
      let files: string[] = [];
      for (let i = 0; i < 200 && files.length < 2; i++) {
        files = await readdir(dir).catch(() => []);
        if (files.length < 2) await new Promise((r) => setTimeout(r, 25));
      }
      expect(files).toHaveLength(2);
      for (const file of files) expect(file).toMatch(/\.eml$/);
      const parsed = await Promise.all(files.map(async (file) => simpleParser(await readFile(path.join(dir, file)))));
      const eml = parsed.find((mail) => mail.subject === RESET);
      if (!eml) throw new Error('no reset mail among the .eml files');
      expect(eml.to && !Array.isArray(eml.to) ? eml.to.text : '').toBe(u.email);
      expect(eml.text).toMatch(/^http:\/\/127\.0\.0\.1:8123\/reset-password\?token=[A-Za-z0-9_-]{43}$/m);
      expect(eml.html).toMatch(/<a href="http:\/\/127\.0\.0\.1:8123\/reset-password\?token=[A-Za-z0-9_-]{43}">/);
      expect(mailsTo(u.email)).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('in production without SMTP_URL, mail is off: both routes answer the documented 503', async () => {
    const { api, baseUrl } = await start({ nodeEnv: 'production', smtpUrl: undefined, publicUrl: undefined });
    const u = await registerAndLogin(api, 'prod');
    for (const res of [
      await api.post('/auth/password-reset', { email: u.email }),
      await api.post('/auth/password-reset/confirm', { token: 'A'.repeat(43), new_password: 'a new password here' }),
    ]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.detail).toBe('Password reset by email is not configured on this server');
    }
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as any;
    expect(Object.keys(doc.paths['/api/v1/auth/password-reset'].post.responses)).toContain('503');
    expect(Object.keys(doc.paths['/api/v1/auth/password-reset/confirm'].post.responses)).toContain('503');
    expect(logs).toContain('mail is off');
    expect((await world.db.pool.query('SELECT count(*)::int AS n FROM mail_queue')).rows[0].n).toBe(0);
  });

  it('no log line carries a token (SMTP mode: requests, sends, failures, retries, confirms)', async () => {
    const before = logs.length;
    const { api } = await start();
    const u = await registerAndLogin(api, 'logs');
    await world.smtp.stop();
    await api.post('/auth/password-reset', { email: u.email });
    await new Promise((r) => setTimeout(r, 300));
    await world.smtp.start();
    const token = tokenOf(await world.smtp.waitFor(u.email, { subject: RESET }));
    await api.post('/auth/password-reset/confirm', { token, new_password: 'logged nowhere at all' });
    await api.post('/auth/password-reset/confirm', { token, new_password: 'logged nowhere at all' });
    await queueDrained();
    const lines = logs.slice(before);
    expect(lines).toContain('sending a mail failed; it will be retried');
    expect(lines).toContain('mail sent');
    expect(lines).toContain('"route":"/api/v1/auth/password-reset/confirm","status":204');
    expect(lines).not.toContain(token);
    expect(lines).not.toContain(encodeURIComponent(token));
    expect(lines).not.toContain('logged nowhere at all');
    expect(lines).not.toContain('reset-password?token=');
  });
});
