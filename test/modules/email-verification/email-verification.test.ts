import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../src/config.js';
import { limitsOn, registerAndLogin, startApp, uniqueUser } from '../../helpers/app.js';
import type { HttpClient } from '../../helpers/http.js';
import { useMailWorld } from '../../helpers/mail-world.js';
import type { ReceivedMail } from '../../helpers/smtp.js';

const PUBLIC_URL = 'https://tasks.example.test';
const LINK = /^https:\/\/tasks\.example\.test\/verify-email\?token=([A-Za-z0-9_-]{43})$/m;

const world = useMailWorld(PUBLIC_URL);

async function start(overrides: Partial<AppConfig> = {}): Promise<HttpClient> {
  return world.track(await startApp(world.config(overrides))).api;
}

function tokenOf(mail: ReceivedMail): string {
  expect(mail.parsed.subject).toBe('Confirm your email for task-api');
  expect(mail.parsed.html).toMatch(/<a href="https:\/\/tasks\.example\.test\/verify-email\?token=[A-Za-z0-9_-]{43}">/);
  const match = LINK.exec(mail.parsed.text ?? '');
  expect(match, mail.parsed.text).not.toBeNull();
  return match?.[1] as string;
}

const me = async (api: HttpClient, token: string) => (await api.get('/users/me', { token })).body;

describe('email verification', () => {
  it('registration mails a link; verifying it marks the email verified, once', async () => {
    const api = await start();
    const u = await registerAndLogin(api, 'verify');
    expect((await me(api, u.token)).email_verified).toBe(false);
    const token = tokenOf(await world.smtp.waitFor(u.email));

    const done = await api.post('/auth/verify-email', { token });
    expect(done.status, done.text).toBe(204);
    expect((await me(api, u.token)).email_verified).toBe(true);

    const again = await api.post('/auth/verify-email', { token });
    const unknown = await api.post('/auth/verify-email', { token: 'A'.repeat(43) });
    expect(again.status).toBe(400);
    expect(again.text).toBe(unknown.text);
    expect(again.body.detail).toBe('Invalid or expired email verification token');
  });

  it('an expired link verifies nothing (the same 400)', async () => {
    const api = await start();
    const u = await registerAndLogin(api, 'stale');
    const token = tokenOf(await world.smtp.waitFor(u.email));
    await world.db.pool.query(
      "UPDATE email_verification_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
      [u.id],
    );
    const res = await api.post('/auth/verify-email', { token });
    expect(res.status).toBe(400);
    expect(res.text).toBe((await api.post('/auth/verify-email', { token: 'B'.repeat(43) })).text);
    expect((await me(api, u.token)).email_verified).toBe(false);
  });

  it('an email change makes the account unverified and mails the new address; the old link no longer verifies', async () => {
    const api = await start();
    const u = await registerAndLogin(api, 'mover');
    const first = tokenOf(await world.smtp.waitFor(u.email));
    expect((await api.post('/auth/verify-email', { token: first })).status).toBe(204);

    const newEmail = uniqueUser('moved').email;
    const changed = await api.patch('/users/me', { email: newEmail, current_password: u.password }, { token: u.token });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body.email_verified).toBe(false);
    const second = tokenOf(await world.smtp.waitFor(newEmail));

    // A link to the old address, issued before the change, verifies nothing now.
    const resentOld = await api.post('/auth/verify-email', { token: first });
    expect(resentOld.status).toBe(400);
    expect((await api.post('/auth/verify-email', { token: second })).status).toBe(204);
    expect((await me(api, u.token)).email_verified).toBe(true);

    // The same address again changes nothing and mails nothing.
    const same = await api.patch('/users/me', { email: newEmail, current_password: u.password }, { token: u.token });
    expect(same.body.email_verified).toBe(true);
  });

  it('an unused link to the previous address stops working once the email changes', async () => {
    const api = await start();
    const u = await registerAndLogin(api, 'early');
    const old = tokenOf(await world.smtp.waitFor(u.email));
    await api.patch('/users/me', { email: uniqueUser('later').email, current_password: u.password }, { token: u.token });
    expect((await api.post('/auth/verify-email', { token: old })).status).toBe(400);
    // Even a live token row for the old address (one the change did not replace) proves nothing now.
    const planted = randomBytes(32).toString('base64url');
    await world.db.pool.query(
      "INSERT INTO email_verification_tokens (user_id, email, token_hash, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')",
      [u.id, u.email, createHash('sha256').update(planted).digest()],
    );
    expect((await api.post('/auth/verify-email', { token: planted })).status).toBe(400);
    expect((await me(api, u.token)).email_verified).toBe(false);
  });

  it('resend: logged in only, a new link voiding the old, 409 once verified, limited per user', async () => {
    const api = await start({
      rateLimit: limitsOn(),
      emailVerification: { required: false, tokenHours: 24, resendMax: 2, resendWindowMs: 60_000 },
    });
    const u = await registerAndLogin(api, 'resend');
    const first = tokenOf(await world.smtp.waitFor(u.email));
    expect((await api.post('/auth/verify-email/resend')).status).toBe(401);

    const resent = await api.post('/auth/verify-email/resend', undefined, { token: u.token });
    expect(resent.status, resent.text).toBe(202);
    expect(resent.body).toEqual({ detail: 'A new verification link is on its way to your email' });
    const second = tokenOf(await world.smtp.waitFor(u.email, { skip: 1 }));
    expect(second).not.toBe(first);
    expect((await api.post('/auth/verify-email', { token: first })).status).toBe(400);

    expect((await api.post('/auth/verify-email/resend', undefined, { token: u.token })).status).toBe(202);
    const limited = await api.post('/auth/verify-email/resend', undefined, { token: u.token });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).not.toBeNull();

    const third = tokenOf(await world.smtp.waitFor(u.email, { skip: 2 }));
    expect((await api.post('/auth/verify-email', { token: third })).status).toBe(204);
    const verified = await api.post('/auth/verify-email/resend', undefined, { token: u.token });
    expect(verified.status).toBe(409);
  });

  it('with mail off (production without SMTP_URL), registration works unverified and both routes answer 503', async () => {
    const api = await start({ nodeEnv: 'production', smtpUrl: undefined, publicUrl: undefined });
    const u = await registerAndLogin(api, 'nomail');
    expect((await me(api, u.token)).email_verified).toBe(false);
    for (const res of [
      await api.post('/auth/verify-email', { token: 'A'.repeat(43) }),
      await api.post('/auth/verify-email/resend', undefined, { token: u.token }),
    ]) {
      expect(res.status).toBe(503);
      expect(res.body.detail).toBe('Email verification is not configured on this server');
    }
  });
});
