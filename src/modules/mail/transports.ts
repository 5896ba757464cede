import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import nodemailer from 'nodemailer';
import type { RenderedMail } from './templates.js';

/** Where a mail goes: an SMTP server, or (development) files and the log. */
export interface MailTransport {
  /** Resolves once the mail is accepted; rejects on any failure (the sender retries). */
  send(to: string, mail: RenderedMail): Promise<void>;
  close(): void;
}

/**
 * Bounds on every SMTP exchange, so a slow or silent server fails an attempt (retried later) instead
 * of holding the sender: nodemailer's defaults wait minutes.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000 };

/**
 * Nodemailer over SMTP from SMTP_URL: smtps:// is TLS from the first byte (port 465 by default),
 * smtp:// upgrades with STARTTLS when the server offers it (port 587 by default). Credentials in the
 * URL (percent-encoded) are the SMTP login. One connection per mail: mails are rare.
 */
export function smtpTransport(url: string, from: string): MailTransport {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const user = decodeURIComponent(parsed.username);
  const transporter = nodemailer.createTransport({
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? (secure ? 465 : 587) : Number(parsed.port),
    secure,
    ...(user === '' ? {} : { auth: { user, pass: decodeURIComponent(parsed.password) } }),
    ...SMTP_TIMEOUTS,
  });
  return {
    async send(to, mail) {
      await transporter.sendMail({ from, to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close: () => transporter.close(),
  };
}

/**
 * Development without SMTP_URL: each mail becomes an .eml file under `dir` (DATA_DIR/mail, private
 * to the owner) and one log line with its text, link included, so that a developer can follow it.
 * Never used in production, where a token in a log would be a leak.
 */
export function fileTransport(dir: string, from: string, log: FastifyBaseLogger): MailTransport {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(to, mail) {
      const info = await transporter.sendMail({ from, to, subject: mail.subject, text: mail.text, html: mail.html });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      log.info({ to, subject: mail.subject, file, text: mail.text }, 'mail written to a file (development: no SMTP_URL)');
    },
    close: () => transporter.close(),
  };
}
