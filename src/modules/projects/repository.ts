import { sql } from 'drizzle-orm';
import type { ProjectRole } from '../../db/enums.js';
import type { Database, Executor } from '../../db/pool.js';
import { executePrepared } from '../../db/prepared.js';
import { projectMembers, projects, users } from '../../db/schema.js';
import { listStatements, type ProjectFilter, type ProjectPosition, projectColumns, withOwnerAndViewer } from './list-query.js';
import type { Member, Project } from './schemas.js';

/** A project as an event shows it: the project object without the caller's role. */
export type ProjectData = Omit<Project, 'role'>;

/** What a write learns of the project it locked: null role for a caller who is not a member. */
export interface ProjectAccess {
  role: ProjectRole | null;
}

const memberColumns = sql`pm.user_id, u.username, pm.role, pm.created_at`;

// Hand-written statements return bigints as text (the pool's parser is for Drizzle's builders): ids become numbers here.
type Raw<T, K extends keyof T> = Omit<T, K> & { [P in K]: number | string };
const toProject = (row: Raw<Project, 'id' | 'owner_id'>): Project => ({
  ...row,
  id: Number(row.id),
  owner_id: Number(row.owner_id),
});
const toMember = (row: Raw<Member, 'user_id'>): Member => ({ ...row, user_id: Number(row.user_id) });

/**
 * "What is this user's role in project P": one primary-key lookup, never cached, so a removal or a
 * role change applies to the very next request on every instance. Undefined: not a member (or no such project).
 */
async function roleIn(db: Executor, projectId: number, userId: number): Promise<ProjectRole | undefined> {
  const { rows } = await executePrepared<{ role: ProjectRole }>(
    db,
    sql`SELECT role FROM ${projectMembers} WHERE project_id = ${projectId} AND user_id = ${userId}`,
  );
  return rows[0]?.role;
}

export function createProjectsRepository(db: Database) {
  const one = async (executor: Executor, projectId: number, viewerId: number): Promise<Project | undefined> => {
    const { rows } = await executePrepared<Raw<Project, 'id' | 'owner_id'>>(
      executor,
      sql`SELECT ${projectColumns} FROM ${withOwnerAndViewer(viewerId)} WHERE p.id = ${projectId}`,
    );
    return rows[0] && toProject(rows[0]);
  };

  const member = async (tx: Executor, projectId: number, userId: number): Promise<Member | undefined> => {
    const { rows } = await executePrepared<Raw<Member, 'user_id'>>(
      tx,
      sql`SELECT ${memberColumns} FROM ${projectMembers} pm JOIN ${users} u ON u.id = pm.user_id
        WHERE pm.project_id = ${projectId} AND pm.user_id = ${userId}`,
    );
    return rows[0] && toMember(rows[0]);
  };

  return {
    roleIn: (projectId: number, userId: number) => roleIn(db, projectId, userId),

    /** The project as `viewerId` sees it (their role; null if not a member); undefined if there is none. */
    find: (projectId: number, viewerId: number, executor: Executor = db) => one(executor, projectId, viewerId),

    /**
     * `all`: every project (an admin's list); otherwise those `viewerId` is a member of. A keyset page
     * reads one row more than it shows, to know whether a next page exists, and gives where it ended
     * (`last`); its total counts the filters' matches apart (once, an InitPlan), as its rows are only
     * those after the cursor.
     */
    async list(
      viewerId: number,
      all: boolean,
      filter: ProjectFilter,
    ): Promise<{ items: Project[]; total: number; last?: ProjectPosition | undefined }> {
      const statements = listStatements(viewerId, all, filter);
      const countAll = async () => {
        const counted = await executePrepared<{ total: string }>(db, statements.count);
        return Number(counted.rows[0]?.total ?? 0);
      };
      if (filter.keyset) {
        const after = filter.keyset.after;
        const { rows } = await executePrepared<Raw<Project, 'id' | 'owner_id'> & { total: string; cursor_value: string }>(
          db,
          statements.page,
        );
        // Past the last page the total has no row to ride on: counted apart.
        if (rows.length === 0) return { items: [], total: after ? await countAll() : 0 };
        const page = rows.slice(0, filter.limit);
        const end = page[page.length - 1];
        const items = page.map(({ total: _, cursor_value: __, ...project }) => toProject(project));
        const last = rows.length > filter.limit && end ? { value: end.cursor_value, id: Number(end.id) } : undefined;
        return { items, total: Number(rows[0]?.total ?? 0), last };
      }
      const { rows } = await executePrepared<Raw<Project, 'id' | 'owner_id'> & { total: string }>(db, statements.page);
      if (rows.length === 0 && filter.offset > 0) return { items: [], total: await countAll() };
      return { items: rows.map(({ total: _, ...project }) => toProject(project)), total: Number(rows[0]?.total ?? 0) };
    },

    /** A new project with `ownerId` as its owner (both rows in the unit's transaction). */
    async insert(tx: Executor, ownerId: number, input: { name: string; description: string | null }): Promise<Project> {
      const { rows } = await executePrepared<{ id: number }>(
        tx,
        sql`WITH created AS (
          INSERT INTO ${projects} (name, description) VALUES (${input.name}, ${input.description}) RETURNING id
        ), owner AS (
          INSERT INTO ${projectMembers} (project_id, user_id, role) SELECT id, ${ownerId}, 'owner' FROM created
        ) SELECT id FROM created`,
      );
      return (await one(tx, Number(rows[0]?.id), ownerId)) as Project;
    },

    /**
     * Locks the project for a change of it or of its members, and says what the caller is in it. Every
     * write of a project takes this lock first, so two hand-overs (or a hand-over and a removal) of one
     * project run one after the other, each deciding on what the other committed. `forDelete`: the
     * stronger lock a delete needs. Undefined: no such project.
     *
     * Two statements: a statement that waited for the lock still sees the rows of other tables as they
     * were when it began, so the caller's role is read by a second one, after the lock is held.
     */
    async lock(tx: Executor, projectId: number, callerId: number, forDelete = false): Promise<ProjectAccess | undefined> {
      const { rows } = await executePrepared<{ id: string }>(
        tx,
        forDelete
          ? sql`SELECT id FROM ${projects} WHERE id = ${projectId} FOR UPDATE`
          : sql`SELECT id FROM ${projects} WHERE id = ${projectId} FOR NO KEY UPDATE`,
      );
      if (rows.length === 0) return undefined;
      return { role: (await roleIn(tx, projectId, callerId)) ?? null };
    },

    /** Changes the fields given; the project as `viewerId` sees it afterwards. */
    async update(tx: Executor, projectId: number, viewerId: number, change: { name?: string; description?: string | null }) {
      const before = (await one(tx, projectId, viewerId)) as Project;
      await executePrepared(
        tx,
        sql`UPDATE ${projects} SET
          name = CASE WHEN ${change.name !== undefined}::boolean THEN ${change.name ?? null}::text ELSE name END,
          description = CASE WHEN ${change.description !== undefined}::boolean THEN ${change.description ?? null}::text ELSE description END
        WHERE id = ${projectId}`,
      );
      return { before, after: (await one(tx, projectId, viewerId)) as Project };
    },

    /** Deletes the project and its memberships (cascade); what it was, as `viewerId` saw it. */
    async delete(tx: Executor, projectId: number, viewerId: number): Promise<Project | undefined> {
      const project = await one(tx, projectId, viewerId);
      if (project) await executePrepared(tx, sql`DELETE FROM ${projects} WHERE id = ${projectId}`);
      return project;
    },

    /** A page of the members: the owner, then editors, then viewers, each by username. */
    async members(projectId: number, page: { limit: number; offset: number }): Promise<{ items: Member[]; total: number }> {
      const { rows } = await executePrepared<Raw<Member, 'user_id'> & { total: string }>(
        db,
        sql`SELECT ${memberColumns}, count(*) OVER () AS total
          FROM ${projectMembers} pm JOIN ${users} u ON u.id = pm.user_id
          WHERE pm.project_id = ${projectId}
          ORDER BY pm.role, lower(u.username), pm.user_id LIMIT ${page.limit} OFFSET ${page.offset}`,
      );
      if (rows.length === 0 && page.offset > 0) {
        const counted = await executePrepared<{ total: string }>(
          db,
          sql`SELECT count(*) AS total FROM ${projectMembers} WHERE project_id = ${projectId}`,
        );
        return { items: [], total: Number(counted.rows[0]?.total ?? 0) };
      }
      return { items: rows.map(({ total: _, ...member }) => toMember(member)), total: Number(rows[0]?.total ?? 0) };
    },

    member,

    /** The id of the user with this username (any case), or undefined. */
    async userIdByUsername(tx: Executor, username: string): Promise<number | undefined> {
      const { rows } = await executePrepared<{ id: string }>(
        tx,
        sql`SELECT id FROM ${users} WHERE lower(username) = lower(${username})`,
      );
      return rows[0] && Number(rows[0].id);
    },

    /** Adds a member; undefined when the user already is one. */
    async addMember(tx: Executor, projectId: number, userId: number, role: ProjectRole): Promise<Member | undefined> {
      const { rowCount } = await executePrepared(
        tx,
        sql`INSERT INTO ${projectMembers} (project_id, user_id, role) VALUES (${projectId}, ${userId}, ${role}::project_role)
          ON CONFLICT DO NOTHING`,
      );
      if (!rowCount) return undefined;
      return member(tx, projectId, userId);
    },

    async setRole(tx: Executor, projectId: number, userId: number, role: ProjectRole): Promise<Member | undefined> {
      await executePrepared(
        tx,
        sql`UPDATE ${projectMembers} SET role = ${role}::project_role WHERE project_id = ${projectId} AND user_id = ${userId}`,
      );
      return member(tx, projectId, userId);
    },

    async removeMember(tx: Executor, projectId: number, userId: number): Promise<void> {
      await executePrepared(tx, sql`DELETE FROM ${projectMembers} WHERE project_id = ${projectId} AND user_id = ${userId}`);
    },
  };
}

export type ProjectsRepository = ReturnType<typeof createProjectsRepository>;
