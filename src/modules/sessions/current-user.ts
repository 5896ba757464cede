import type { User } from '../users/schemas.js';

/** The user a request's access token names, with the session it belongs to (set by `authenticate`). */
export interface CurrentUser extends User {
  sessionId: string;
}
