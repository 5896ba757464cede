import { eq, or, sql } from 'drizzle-orm';
import type { Database } from '../../db/pool.js';
import { users } from '../../db/schema.js';
import type { User } from './schemas.js';

/** Columns of a user as the API shows them (never the hash). */
export const userColumns = {
  id: users.id,
  username: users.username,
  email: users.email,
  role: users.role,
  is_active: users.isActive,
  created_at: users.createdAt,
  updated_at: users.updatedAt,
};

export type UserWithHash = User & { hashed_password: string };

export class DuplicateUserError extends Error {
  constructor(readonly field: 'username' | 'email') {
    super(`${field} already registered`);
  }
}

const UNIQUE_VIOLATION = '23505';

export function createUsersRepository(db: Database) {
  return {
    async insert(input: { username: string; email: string; hashedPassword: string }): Promise<User> {
      try {
        const [user] = await db
          .insert(users)
          .values({ username: input.username, email: input.email.toLowerCase(), hashedPassword: input.hashedPassword })
          .returning(userColumns);
        return user as User;
      } catch (err) {
        const pgErr =
          (err as { cause?: { code?: string; constraint?: string } }).cause ?? (err as { code?: string; constraint?: string });
        if (pgErr.code === UNIQUE_VIOLATION) {
          throw new DuplicateUserError(pgErr.constraint === 'users_email_key' ? 'email' : 'username');
        }
        throw err;
      }
    },

    async findById(id: number): Promise<User | undefined> {
      const [user] = await db.select(userColumns).from(users).where(eq(users.id, id));
      return user;
    },

    /** Login accepts the username or the email, both regardless of case. */
    async findByLogin(login: string): Promise<UserWithHash | undefined> {
      const [user] = await db
        .select({ ...userColumns, hashed_password: users.hashedPassword })
        .from(users)
        .where(or(sql`lower(${users.username}) = lower(${login})`, eq(users.email, login.toLowerCase())))
        .limit(1);
      return user;
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
