import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { retryDelay } from '../../src/lib/backoff.js';

const SECRET = 's'.repeat(32);
const PRODUCTION = { NODE_ENV: 'production', JWT_SECRET: SECRET, PASSWORD_PEPPER: SECRET };

describe('mail configuration', () => {
  it('PUBLIC_URL defaults to this server outside production, and is kept without a trailing slash', () => {
    expect(loadConfig({}).publicUrl).toBe('http://127.0.0.1:8000');
    expect(loadConfig({ PORT: '9123' }).publicUrl).toBe('http://127.0.0.1:9123');
    expect(loadConfig({ PUBLIC_URL: 'https://tasks.example.com/' }).publicUrl).toBe('https://tasks.example.com');
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/tasks/app/' }).publicUrl).toBe('https://example.com/tasks/app');
  });

  it.each([
    ['ftp://example.com', /^PUBLIC_URL must be an http:\/\/ or https:\/\/ URL \(got scheme "ftp:"\)$/],
    ['example.com', /^PUBLIC_URL must be an absolute http:\/\/ or https:\/\/ URL/],
    ['https://example.com/?a=1', /^PUBLIC_URL must not have a query or a fragment$/],
    ['https://example.com/#top', /^PUBLIC_URL must not have a query or a fragment$/],
    ['https://example.com/?', /^PUBLIC_URL must not have a query or a fragment$/],
    ['https://user:pw@example.com', /^PUBLIC_URL must not hold credentials$/],
    ['', null],
  ])('PUBLIC_URL=%s is refused with one line', (value, message) => {
    if (message === null) {
      expect(loadConfig({ PUBLIC_URL: value }).publicUrl).toBe('http://127.0.0.1:8000');
      return;
    }
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(ConfigError);
    expect(() => loadConfig({ PUBLIC_URL: value })).toThrow(message);
  });

  it('REQUIRE_VERIFIED_EMAIL is off by default, and refused where nobody could verify (production without SMTP_URL)', () => {
    expect(loadConfig({}).emailVerification.required).toBe(false);
    expect(loadConfig({ REQUIRE_VERIFIED_EMAIL: 'true' }).emailVerification.required).toBe(true);
    expect(() => loadConfig({ REQUIRE_VERIFIED_EMAIL: 'maybe' })).toThrow(/^REQUIRE_VERIFIED_EMAIL must be true or false/);
    expect(() => loadConfig({ ...PRODUCTION, REQUIRE_VERIFIED_EMAIL: 'true' })).toThrow(
      /^REQUIRE_VERIFIED_EMAIL=true needs SMTP_URL when NODE_ENV=production/,
    );
    const withMail = { ...PRODUCTION, SMTP_URL: 'smtp://mail.example.com', PUBLIC_URL: 'https://tasks.example.com' };
    expect(loadConfig({ ...withMail, REQUIRE_VERIFIED_EMAIL: 'true' }).emailVerification.required).toBe(true);
  });

  it('SMTP_URL takes smtp:// and smtps:// only, and the message never repeats the URL', () => {
    expect(loadConfig({ SMTP_URL: 'smtps://u:p@mail.example.com:465' }).smtpUrl).toBe('smtps://u:p@mail.example.com:465');
    expect(() => loadConfig({ SMTP_URL: 'http://u:secret@mail.example.com' })).toThrow(
      /^SMTP_URL must be a smtp:\/\/ or smtps:\/\/ URL \(got scheme "http:"\)$/,
    );
    expect(() => loadConfig({ SMTP_URL: 'nonsense secret' })).not.toThrow(/secret/);
  });

  it('production: PUBLIC_URL is required with SMTP_URL; without SMTP_URL mail is off and nothing is required', () => {
    expect(() => loadConfig({ ...PRODUCTION, SMTP_URL: 'smtp://mail.example.com' })).toThrow(
      /^PUBLIC_URL is required when NODE_ENV=production and SMTP_URL is set/,
    );
    const on = loadConfig({ ...PRODUCTION, SMTP_URL: 'smtp://mail.example.com', PUBLIC_URL: 'https://tasks.example.com' });
    expect(on.publicUrl).toBe('https://tasks.example.com');
    const off = loadConfig(PRODUCTION);
    expect(off.smtpUrl).toBeUndefined();
    expect(off.publicUrl).toBeUndefined();
  });

  it('MAIL_FROM is an address or a name and an address, on one line', () => {
    expect(loadConfig({}).mailFrom).toBe('task-api <no-reply@localhost>');
    expect(loadConfig({ MAIL_FROM: 'tasks@example.com' }).mailFrom).toBe('tasks@example.com');
    expect(loadConfig({ MAIL_FROM: 'Tasks <tasks@example.com>' }).mailFrom).toBe('Tasks <tasks@example.com>');
    expect(() => loadConfig({ MAIL_FROM: 'nobody' })).toThrow(/^MAIL_FROM must be an address/);
    expect(() => loadConfig({ MAIL_FROM: 'a@b.c\r\nBcc: x@y.z' })).toThrow(/^MAIL_FROM must be an address/);
  });

  it('retries back off exponentially with jitter, up to their ceiling', () => {
    const HOUR = 3_600_000;
    expect(retryDelay(1, 1000, HOUR, () => 0)).toBe(500);
    expect(retryDelay(1, 1000, HOUR, () => 1)).toBe(1000);
    expect(retryDelay(2, 1000, HOUR, () => 1)).toBe(2000);
    expect(retryDelay(4, 1000, HOUR, () => 0.5)).toBe(6000);
    expect(retryDelay(40, 1000, HOUR, () => 1)).toBe(HOUR);
    const spread = new Set(Array.from({ length: 20 }, () => retryDelay(3, 1000, HOUR)));
    expect(spread.size).toBeGreaterThan(1);
    for (const delay of spread) expect(delay).toBeGreaterThanOrEqual(2000);
  });
});
