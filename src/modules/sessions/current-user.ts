import type { Role, TokenScope } from '../../db/enums.js';
import type { User } from '../users/schemas.js';

/** A personal access token that authenticated a request: which one, and what it was granted. */
export interface TokenGrant {
  id: number;
  scopes: readonly TokenScope[];
  /** The account's own role; `role` is the one the request acts with (see CurrentUser). */
  accountRole: Role;
}

/** A request authenticated by a login (an access token naming its session). */
interface SessionUser extends User {
  sessionId: string;
  token?: undefined;
}

/**
 * A request authenticated by a personal access token. It has no session: `sessionId` is never set,
 * and no route that reads it accepts a token (a route that names no scope refuses tokens). Its
 * `role` is the account's only when the token has the `admin` scope, `user` otherwise, so an
 * admin's token without that scope sees and changes what a user's would.
 */
interface TokenUser extends User {
  sessionId: never;
  token: TokenGrant;
}

/** The user a request's credential names (set by `authenticate`), and that credential. */
export type CurrentUser = SessionUser | TokenUser;
