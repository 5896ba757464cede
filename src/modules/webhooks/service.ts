import { conflict, invalidField, notFound } from '../../lib/errors.js';
import { pageOf } from '../../lib/pagination.js';
import type { SecretBox } from '../../lib/secret-box.js';
import { actorOf } from '../events/events.js';
import type { CurrentUser } from '../sessions/current-user.js';
import { ALL_EVENTS, pingEvent } from './events.js';
import { shown, type WebhooksRepository } from './repository.js';
import {
  type CreatedWebhook,
  type Delivery,
  MAX_WEBHOOKS_PER_USER,
  type Webhook,
  type WebhookCreate,
  type WebhookUpdate,
} from './schemas.js';
import { newSigningSecret } from './signer.js';
import { type TargetPolicy, urlProblem } from './ssrf/target.js';

// Another user's webhook is as unknown as one that does not exist: one message for both.
const WEBHOOK_NOT_FOUND = 'Webhook not found';

/** The secret box's context: a sealed secret opens only in a row of the same owner. */
export const secretContext = (userId: number) => `webhook signing secret\n${userId}`;

/** `*` alone stands for every type: a list that names it as well as others is just `*`. */
const normalised = (events: readonly string[]) => (events.includes(ALL_EVENTS) ? [ALL_EVENTS] : [...events]);

/**
 * A user's webhooks. Each belongs to its creator alone: any other caller (an admin included) gets a
 * 404, as for a webhook that does not exist. The signing secret is made here, returned once by
 * `create`, and stored sealed; nothing else ever returns it.
 */
export function createWebhooksService(
  repository: WebhooksRepository,
  deps: {
    box: SecretBox;
    policy: TargetPolicy;
    transaction<T>(work: (tx: Parameters<WebhooksRepository['insert']>[0]) => Promise<T>): Promise<T>;
    /** Tells the delivery worker a ping is waiting. */
    wake(): void;
  },
) {
  const checkedUrl = (url: string) => {
    const problem = urlProblem(url, deps.policy);
    if (problem) throw invalidField('url', problem);
    return url;
  };
  const owned = async (user: CurrentUser, id: number) => {
    const found = await repository.find(user.id, id);
    if (!found) throw notFound(WEBHOOK_NOT_FOUND);
    return found;
  };

  return {
    async create(user: CurrentUser, input: WebhookCreate): Promise<CreatedWebhook> {
      const url = checkedUrl(input.url);
      const secret = newSigningSecret();
      const created = await deps.transaction(async (tx) => {
        if ((await repository.countLocked(tx, user.id)) >= MAX_WEBHOOKS_PER_USER) {
          throw conflict(`A user may have at most ${MAX_WEBHOOKS_PER_USER} webhooks: delete one first`);
        }
        return repository.insert(tx, {
          userId: user.id,
          url,
          description: input.description ?? null,
          events: normalised(input.events),
          sealedSecret: deps.box.seal(secret, secretContext(user.id)),
        });
      });
      return { ...shown(created), secret };
    },

    list: (user: CurrentUser, page: { limit?: number; offset?: number }) => repository.list(user.id, pageOf(page)),

    async get(user: CurrentUser, id: number): Promise<Webhook> {
      return shown(await owned(user, id));
    },

    async update(user: CurrentUser, id: number, change: WebhookUpdate): Promise<Webhook> {
      const updated = await repository.update(user.id, id, {
        ...(change.url === undefined ? {} : { url: checkedUrl(change.url) }),
        ...(change.description === undefined ? {} : { description: change.description }),
        ...(change.events === undefined ? {} : { events: normalised(change.events) }),
        ...(change.active === undefined ? {} : { active: change.active }),
      });
      if (!updated) throw notFound(WEBHOOK_NOT_FOUND);
      return shown(updated);
    },

    async remove(user: CurrentUser, id: number): Promise<void> {
      if (!(await repository.delete(user.id, id))) throw notFound(WEBHOOK_NOT_FOUND);
    },

    /** Queues a webhook.ping for the webhook, whatever it subscribes to; a disabled webhook is a 409. */
    async test(user: CurrentUser, id: number): Promise<Delivery> {
      const webhook = await owned(user, id);
      if (!webhook.active) throw conflict('The webhook is disabled: enable it (PATCH active=true) first');
      const event = pingEvent(actorOf(user), webhook.id);
      const delivery = await repository.insertPing(webhook.id, {
        id: event.body.id,
        type: event.body.type,
        body: JSON.stringify(event.body),
      });
      deps.wake();
      return delivery;
    },

    async deliveries(user: CurrentUser, id: number, page: { limit?: number; offset?: number }) {
      await owned(user, id);
      return repository.deliveries(id, pageOf(page));
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
