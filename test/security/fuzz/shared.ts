import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { HttpClient } from '../../helpers/http.js';
import type { Account } from './world.js';

/**
 * B's two projects shared with A, whose tasks carry `marker` (A may read those, never B's own marker):
 * `view`, where A is a viewer, with tasks of B's (nothing A sends may change the project, its members
 * or its tasks), and `edit`, where A and C are editors, with tasks of C's (A may change those tasks, and
 * rename or describe the project as editors may, but not its members or the rest of its row). A may
 * leave either project, as any member may: A's rows there may go missing, never change, and `restore`
 * puts them back.
 */
export class SharedProjects {
  readonly marker = `sh${randomBytes(6).toString('hex')}`;
  view = 0;
  edit = 0;
  /** A's membership rows as set up, as text (a JavaScript Date would drop the timestamp's microseconds). */
  memberships: Array<{ project_id: string; user_id: string; role: string; created_at: string }> = [];

  constructor(
    private readonly api: HttpClient,
    private readonly pool: pg.Pool,
  ) {}

  get ids(): number[] {
    return [this.view, this.edit];
  }

  /** The two projects of `victim`'s, made through the API, with `user` (A) and `spare` (C) in them. */
  async setup(victim: Account, user: Account, spare: Account): Promise<void> {
    const call = async (path: string, body: unknown, by: Account) => {
      const res = await this.api.post(path, body, { token: by.token });
      if (res.status !== 201) throw new Error(`shared setup ${path}: ${res.status} ${res.text}`);
      return res.body;
    };
    for (const [kind, role] of [
      ['view', 'viewer'],
      ['edit', 'editor'],
    ] as const) {
      const id = (await call('/projects', { name: `shared to ${role}` }, victim)).id as number;
      this[kind] = id;
      await call(`/projects/${id}/members`, { username: user.username, role }, victim);
      if (kind === 'edit') await call(`/projects/${id}/members`, { username: spare.username, role }, victim);
      const creator = kind === 'view' ? victim : spare;
      for (let i = 0; i < 2; i++) {
        await call('/tasks', { title: `${this.marker} ${kind} ${i}`, project_id: id, labels: [`${this.marker}-${i}`] }, creator);
      }
    }
    const { rows } = await this.pool.query(
      'SELECT project_id, user_id, role::text, created_at::text FROM project_members WHERE user_id = $1 AND project_id = ANY($2)',
      [user.id, this.ids],
    );
    this.memberships = rows;
    // A sees both projects' tasks: the roles are in place before the run.
    const seen = await this.api.get('/tasks?limit=100', { token: user.token });
    const count = (seen.body as Array<{ title: string }>).filter((t) => t.title.startsWith(this.marker)).length;
    if (count !== 4) throw new Error(`shared setup: A sees ${count} of the 4 shared tasks`);
  }

  /** A's memberships as they were, if A has left: the run goes on with A's roles. */
  async restore(): Promise<void> {
    const rows = this.memberships;
    await this.pool.query(
      `INSERT INTO project_members (project_id, user_id, role, created_at)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::project_role[], $4::timestamptz[]) ON CONFLICT DO NOTHING`,
      [rows.map((m) => m.project_id), rows.map((m) => m.user_id), rows.map((m) => m.role), rows.map((m) => m.created_at)],
    );
  }

  /** Whether a path is a shared project's member list or member: where A may see B's username. */
  namesMembers(path: string): boolean {
    return this.ids.some((id) => {
      const prefix = `/api/v1/projects/${id}/members`;
      return path === prefix || path.startsWith(`${prefix}?`) || path.startsWith(`${prefix}/`);
    });
  }
}
