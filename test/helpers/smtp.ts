import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A mail as the test SMTP server received it: the envelope and the parsed message. */
export interface ReceivedMail {
  envelopeTo: string[];
  raw: string;
  parsed: ParsedMail;
}

export interface TestSmtpServer {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Resolves with the first mail (from now on, or already received) to `to` past the first `skip` of theirs (of that subject). */
  waitFor(to: string, options?: { skip?: number; subject?: string; timeoutMs?: number }): Promise<ReceivedMail>;
  /** Stops listening (a mail server that is down); `start` listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A real SMTP server in the test process, over TCP on a spare local port: no authentication, no
 * TLS (so nodemailer sends in plain text), every message parsed with mailparser.
 */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  let port = 0;
  let server: SMTPServer | undefined;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const created = new SMTPServer({
        logger: false,
        authOptional: true,
        disabledCommands: ['AUTH', 'STARTTLS'],
        onData(stream, session, callback) {
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            simpleParser(raw).then(
              (parsed) => {
                received.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), raw, parsed });
                callback();
              },
              (err: Error) => callback(err),
            );
          });
        },
      });
      created.on('error', reject);
      const net = created.listen(port, '127.0.0.1', () => {
        port = (net.address() as AddressInfo).port;
        server = created;
        resolve();
      });
    });
  await listen();

  return {
    get port() {
      return port;
    },
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    received,
    async waitFor(to, { skip = 0, subject, timeoutMs = 10_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const theirs = received.filter(
          (m) => m.envelopeTo.includes(to) && (subject === undefined || m.parsed.subject === subject),
        );
        if (theirs.length > skip) return theirs[skip] as ReceivedMail;
        if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        const current = server;
        server = undefined;
        if (!current) return resolve();
        current.close(() => resolve());
      }),
    start: listen,
  };
}
