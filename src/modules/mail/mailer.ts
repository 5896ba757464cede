import type { Executor } from '../../db/pool.js';
import type { SecretBox } from '../../lib/secret-box.js';
import type { ClaimedMail, MailQueueRepository } from './repository.js';
import { type RenderedMail, TEMPLATES, type TemplateName } from './templates.js';

/** A mail a module asks for: a template, its values, and at most one secret (a token), which the queue holds encrypted. */
export interface OutgoingMail {
  template: TemplateName;
  to: string;
  params: Record<string, string | number>;
  secret?: string | undefined;
  /** When the mail stops being worth sending (its token's expiry). */
  expiresAt?: Date | undefined;
}

/** What other modules see of mail: queue one in their transaction, then wake the sender once it has committed. */
export interface Mailer {
  enqueue(tx: Executor, mail: OutgoingMail): Promise<void>;
  /** After the commit: the background sender takes the mail at once (never on the request's path). */
  wake(): void;
}

/** The secret box's context: a sealed token opens only in a row of the same template and recipient. */
const boxContext = (template: string, recipient: string) => `${template}\n${recipient}`;

export function createMailer(deps: { queue: MailQueueRepository; box: SecretBox; wake(): void }): Mailer {
  return {
    async enqueue(tx, mail) {
      await deps.queue.enqueue(tx, {
        template: mail.template,
        recipient: mail.to,
        params: mail.params,
        secret: mail.secret === undefined ? undefined : deps.box.seal(mail.secret, boxContext(mail.template, mail.to)),
        expiresAt: mail.expiresAt,
      });
    },
    wake: deps.wake,
  };
}

/** Fills a claimed mail's template, opening its secret; throws for an unknown template or a box that does not open. */
export function renderQueued(mail: ClaimedMail, box: SecretBox, publicUrl: string): RenderedMail {
  if (!Object.hasOwn(TEMPLATES, mail.template)) throw new Error(`unknown mail template ${mail.template}`);
  const secret = mail.secret === undefined ? '' : box.open(mail.secret, boxContext(mail.template, mail.recipient));
  return TEMPLATES[mail.template as TemplateName](mail.params, secret, publicUrl);
}
