import type { Database } from '../../db/pool.js';
import { createAjv } from '../../lib/ajv.js';
import { createUnitOfWork, outboxConsumers } from '../events/unit-of-work.js';
import { createPasswordHasher } from './passwords.js';
import { createUsersRepository } from './repository.js';
import { NewAccount } from './schemas.js';
import { createUsersService, type SessionRevocation } from './service.js';

const checkAccount = createAjv({ coerceTypes: false }).compile(NewAccount);

/** Creating or promoting an admin ends no login: ensureAdmin never revokes. */
const noRevocations: SessionRevocation = {
  revokeOtherSessions: async () => {
    throw new Error('ensureAdmin revokes no session');
  },
};

/** The same rules as registration; a message naming the first bad field, or undefined. */
export function accountProblem(account: NewAccount): string | undefined {
  if (checkAccount(account)) return undefined;
  const issue = checkAccount.errors?.[0];
  return `${issue?.instancePath.replace(/^\//, '') || 'account'} ${issue?.message ?? 'is invalid'}`;
}

/**
 * Creates (or, with `promote`, promotes) an admin outside a request: used by `npm run create-admin`
 * and by the server for FIRST_ADMIN_*. There are never default credentials: nothing happens unless asked.
 */
export async function ensureAdminAccount(
  db: Database,
  secrets: { bcryptCost: number; passwordPepper: string } & Parameters<typeof outboxConsumers>[0],
  account: NewAccount,
  options: { promote: boolean },
) {
  const problem = accountProblem(account);
  if (problem) throw new Error(`invalid admin account: ${problem}`);
  const service = createUsersService({
    users: createUsersRepository(db),
    sessions: noRevocations,
    passwords: createPasswordHasher({ cost: secrets.bcryptCost, pepper: secrets.passwordPepper }),
    // With events on, the outbox gets the admin's events; a running server's publisher, webhook
    // feed and stream feed send them (there is none to wake here: they find them by polling).
    unitOfWork: createUnitOfWork(db, { consumers: outboxConsumers(secrets) }),
  });
  return service.ensureAdmin(account, options);
}
