import type { Role } from '../../db/enums.js';
import { conflict, forbidden, notFound } from '../../lib/errors.js';
import { newPersonalAccessToken } from './format.js';
import type { AccessTokensRepository } from './repository.js';
import {
  type AccessToken,
  type AccessTokenCreate,
  type CreatedAccessToken,
  EXPIRES_IN_DAYS_DEFAULT,
  MAX_TOKENS_PER_USER,
} from './schemas.js';

const TOKEN_NOT_FOUND = 'Token not found';

/** The account a token is made for, listed or deleted: always the caller's own (a login, never a token). */
export interface TokenOwner {
  id: number;
  role: Role;
}

export function createAccessTokensService(deps: { tokens: AccessTokensRepository }) {
  const { tokens } = deps;
  return {
    /** A new token, shown this once. Only an admin may ask for `admin`. */
    async create(owner: TokenOwner, input: AccessTokenCreate): Promise<CreatedAccessToken> {
      if (input.scopes.includes('admin') && owner.role !== 'admin') throw forbidden('Only an admin may ask for the admin scope');
      const { token, hash, prefix } = newPersonalAccessToken();
      const outcome = await tokens.create(
        owner.id,
        { name: input.name, scopes: input.scopes, hash, prefix, expiresInDays: input.expires_in_days ?? EXPIRES_IN_DAYS_DEFAULT },
        MAX_TOKENS_PER_USER,
      );
      if (outcome.kind === 'duplicate') throw conflict('You already have a token of that name');
      if (outcome.kind === 'limit') {
        throw conflict(`You already have ${MAX_TOKENS_PER_USER} tokens, the most an account may hold: delete one first`);
      }
      return { ...outcome.token, token };
    },

    list: (owner: TokenOwner): Promise<AccessToken[]> => tokens.list(owner.id),

    async remove(owner: TokenOwner, id: number): Promise<void> {
      if (!(await tokens.remove(owner.id, id))) throw notFound(TOKEN_NOT_FOUND);
    },
  };
}

export type AccessTokensService = ReturnType<typeof createAccessTokensService>;
