import type { FastifyBaseLogger } from 'fastify';
import { loggable } from '../../db/errors.js';
import { createBackgroundLoop } from '../../lib/background-loop.js';
import { retryDelay } from '../../lib/backoff.js';
import type { ClaimedMail, MailQueueRepository } from './repository.js';
import type { RenderedMail } from './templates.js';
import type { MailTransport } from './transports.js';

export interface SenderOptions {
  queue: MailQueueRepository;
  transport: MailTransport;
  /** The mail as sent: the template filled in with the opened secret. Throws when it cannot be (a bad box). */
  render(mail: ClaimedMail): RenderedMail;
  log: FastifyBaseLogger;
  maxAttempts: number;
  retryBaseMs: number;
  pollIntervalMs: number;
}

/** Mails claimed per round. */
const BATCH = 10;
/**
 * How long a claim holds a mail: longer than any attempt can take (the SMTP timeouts), so no other
 * sender takes it while it is in flight; a sender that dies mid-way leaves it to be taken after this.
 */
const LEASE_MS = 5 * 60_000;
/** A mail's retries wait an hour at most. */
const RETRY_MAX_MS = 60 * 60_000;
/** On close, a send in flight is waited for this long; if it is not done by then its lease runs out and it is retried. */
const CLOSE_WAIT_MS = 2_000;

/** What a log line may say of a failure: the error's code and SMTP status, never the message (whose text is the mail's). */
const failure = (err: unknown) => {
  const e = err as { code?: unknown; responseCode?: unknown; name?: unknown };
  return { code: e.code ?? e.name, response_code: e.responseCode };
};

/**
 * Sends the mail queue in the background, never on a request's path: woken after the commit of a
 * request that queued a mail (the wake coalesces, as the events publisher's does: wakes during a
 * round make one more round), and every `pollIntervalMs` for other instances' mails and due retries.
 * Each mail is claimed, rendered, sent, then deleted; a failure is retried with backoff and jitter up
 * to `maxAttempts`, then dropped. Log lines name the mail by id and template, never its token or link.
 */
export function createMailSender(options: SenderOptions) {
  const { queue, transport, log, maxAttempts, retryBaseMs, pollIntervalMs } = options;

  async function deliver(mail: ClaimedMail): Promise<void> {
    const about = { mail_id: mail.id, template: mail.template, attempt: mail.attempts };
    if (mail.expiresAt !== undefined && mail.expiresAt.getTime() <= Date.now()) {
      await queue.remove(mail.id);
      log.warn(about, 'mail dropped unsent: its link expired while it waited');
      return;
    }
    let rendered: RenderedMail;
    try {
      rendered = options.render(mail);
    } catch (err) {
      // Its secret does not open (JWT_SECRET changed since it was queued) or its template is gone: no retry can help.
      await queue.remove(mail.id);
      log.error({ ...about, err: failure(err) }, 'mail dropped: it cannot be rendered');
      return;
    }
    try {
      await transport.send(mail.recipient, rendered);
    } catch (err) {
      if (mail.attempts >= maxAttempts) {
        await queue.remove(mail.id);
        log.error({ ...about, err: failure(err) }, 'mail dropped: every attempt to send it failed');
      } else {
        const delay = retryDelay(mail.attempts, retryBaseMs, RETRY_MAX_MS);
        await queue.retryLater(mail.id, mail.attempts, delay);
        log.warn({ ...about, err: failure(err), retry_in_ms: delay }, 'sending a mail failed; it will be retried');
      }
      return;
    }
    await queue.remove(mail.id);
    log.info(about, 'mail sent');
  }

  const loop = createBackgroundLoop({
    // A full batch suggests more are due: go again at once.
    async round() {
      const claimed = await queue.claim(BATCH, LEASE_MS);
      for (const mail of claimed) {
        if (loop.closing) break;
        await deliver(mail);
      }
      return claimed.length === BATCH;
    },
    pollIntervalMs,
    log,
    // The database failed (a claim or a delete): the mails stay queued, and are found again.
    describeError: loggable,
    messages: { failing: 'reading the mail queue failed; retrying', recovered: 'mail queue reachable again' },
    closeWaitMs: CLOSE_WAIT_MS,
  });

  return {
    wake: loop.wake,
    start: loop.start,
    /** Stops after the mail in flight (waiting for it a moment at most) and closes the transport. */
    async close(): Promise<void> {
      await loop.close();
      transport.close();
    },
  };
}
