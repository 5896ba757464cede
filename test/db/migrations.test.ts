import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/db/migrate.js';
import { createEmptyDatabase } from '../helpers/db.js';

let db: { url: string; drop(): Promise<void> };
let client: pg.Client;
beforeAll(async () => {
  db = await createEmptyDatabase();
});
afterAll(async () => {
  await client?.end();
  await db.drop();
});

describe('migrations', () => {
  it('instances migrating at the same moment do not race: each migration is applied once', async () => {
    await Promise.all([1, 2, 3, 4].map(() => runMigrations(db.url)));
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('SELECT hash, count(*)::int AS n FROM drizzle.__drizzle_migrations GROUP BY hash');
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    await runMigrations(db.url); // and again: nothing to do, no error
  });

  it('creates the users and tasks tables with their keys, defaults and indexes', async () => {
    const { rows } = await client.query(
      "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('users', 'tasks') ORDER BY 1",
    );
    expect(rows.map((r) => r.indexname)).toEqual(
      expect.arrayContaining(['tasks_user_id_created_at_idx', 'users_email_key', 'users_username_lower_key']),
    );
    const user = await client.query(
      "INSERT INTO users (username, email, hashed_password) VALUES ('Ada', 'ada@example.com', 'x') RETURNING role, is_active, created_at",
    );
    expect(user.rows[0]).toMatchObject({ role: 'user', is_active: true });
    await expect(
      client.query("INSERT INTO users (username, email, hashed_password) VALUES ('ADA', 'other@example.com', 'x')"),
    ).rejects.toThrow(/users_username_lower_key/);
    await expect(
      client.query("INSERT INTO users (username, email, hashed_password) VALUES ('bob', 'Bob@Example.com', 'x')"),
    ).rejects.toThrow(/users_email_lower_case/);
  });

  it('maintains updated_at on every change and cascades user deletion to tasks', async () => {
    const { rows } = await client.query(
      "INSERT INTO users (username, email, hashed_password) VALUES ('carol', 'carol@example.com', 'x') RETURNING id, created_at, updated_at",
    );
    const user = rows[0];
    const task = await client.query(
      "INSERT INTO tasks (user_id, title) VALUES ($1, 't') RETURNING id, status, priority, updated_at",
      [user.id],
    );
    expect(task.rows[0]).toMatchObject({ status: 'pending', priority: 'medium' });
    const updated = await client.query(
      "UPDATE users SET email = 'carol2@example.com' WHERE id = $1 RETURNING created_at, updated_at",
      [user.id],
    );
    expect(updated.rows[0].updated_at.getTime()).toBeGreaterThan(user.updated_at.getTime());
    expect(updated.rows[0].created_at.getTime()).toBe(user.created_at.getTime());
    const taskUpdated = await client.query("UPDATE tasks SET title = 'u' WHERE id = $1 RETURNING updated_at", [task.rows[0].id]);
    expect(taskUpdated.rows[0].updated_at.getTime()).toBeGreaterThan(task.rows[0].updated_at.getTime());
    await client.query('DELETE FROM users WHERE id = $1', [user.id]);
    expect((await client.query('SELECT 1 FROM tasks WHERE id = $1', [task.rows[0].id])).rowCount).toBe(0);
  });
});
