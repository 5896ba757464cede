import { type SQL, sql } from 'drizzle-orm';
import type { ProjectRole } from '../../db/enums.js';
import type { Database } from '../../db/pool.js';
import { executePrepared } from '../../db/prepared.js';
import { projectMembers, projects, users } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import type { Executor } from '../events/unit-of-work.js';
import type { Member, Project, ProjectSort, ProjectSortKey } from './schemas.js';

/** A project as an event shows it: the project object without the caller's role. */
export type ProjectData = Omit<Project, 'role'>;

/** What a write learns of the project it locked: null role for a caller who is not a member. */
export interface ProjectAccess {
  role: ProjectRole | null;
}

export interface ProjectFilter {
  q?: string | undefined;
  roles?: ProjectRole[] | undefined;
  sort: ProjectSort;
  limit: number;
  offset: number;
  /** Keyset paging (a cursor request): `after` is where the previous page ended (absent: the first page). */
  keyset?: { after?: ProjectPosition | undefined } | undefined;
}

/** The last row of a page under its sort: the sort expression's value as PostgreSQL writes it (text, exact) and the id. */
export interface ProjectPosition {
  value: string;
  id: number;
}

/**
 * The project's columns as the API shows them, `viewer`'s role among them; `p` is projects, `o` the
 * owner's membership row, `m` the viewer's (absent for an admin who is not a member).
 */
const projectColumns = sql`p.id, p.name, p.description, o.user_id AS owner_id, m.role, p.created_at, p.updated_at`;
const withOwnerAndViewer = (viewerId: number) => sql`${projects} p
  JOIN ${projectMembers} o ON o.project_id = p.id AND o.role = 'owner'
  LEFT JOIN ${projectMembers} m ON m.project_id = p.id AND m.user_id = ${viewerId}`;

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
 * What each sort key orders by, and the type its value is cast back to from a cursor's text: name
 * sorts case-insensitively, so its keyset compares lower(name) too. None is nullable.
 */
const SORT_EXPRESSIONS: Record<ProjectSortKey, { expression: SQL; type: SQL }> = {
  created_at: { expression: sql`p.created_at`, type: sql.raw('timestamptz') },
  updated_at: { expression: sql`p.updated_at`, type: sql.raw('timestamptz') },
  name: { expression: sql`lower(p.name)`, type: sql.raw('text') },
};

const sortOf = (sort: ProjectSort) => {
  const descending = sort.startsWith('-');
  return { key: (descending ? sort.slice(1) : sort) as ProjectSortKey, descending };
};

// Fixed texts per sort key (one prepared statement each); ties by id in the key's direction.
const orderBy = (sort: ProjectSort): SQL => {
  const { key, descending } = sortOf(sort);
  const direction = sql.raw(descending ? ' DESC' : '');
  return sql`${SORT_EXPRESSIONS[key].expression}${direction}, p.id${direction}`;
};

/**
 * The rows after `(value, id)` in the list's order (sort expression, then id, the same direction);
 * the value comes back as the text the page's cursor_value gave, cast to the expression's own type.
 */
const keysetAfter = (sort: ProjectSort, after: ProjectPosition): SQL => {
  const { key, descending } = sortOf(sort);
  const { expression, type } = SORT_EXPRESSIONS[key];
  const value = sql`CAST(${after.value} AS ${type})`;
  return descending
    ? sql`(${expression}, p.id) < (${value}, ${after.id}::bigint)`
    : sql`(${expression}, p.id) > (${value}, ${after.id}::bigint)`;
};

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
      const where = sql.join(
        [
          all ? sql`true` : sql`m.user_id IS NOT NULL`,
          filter.q ? sql`(p.name ILIKE ${likePattern(filter.q)} OR p.description ILIKE ${likePattern(filter.q)})` : sql`true`,
          filter.roles ? sql`m.role = ANY(${`{${filter.roles.join(',')}}`}::project_role[])` : sql`true`,
        ],
        sql` AND `,
      );
      const countAll = async () => {
        const counted = await executePrepared<{ total: string }>(
          db,
          sql`SELECT count(*) AS total FROM ${withOwnerAndViewer(viewerId)} WHERE ${where}`,
        );
        return Number(counted.rows[0]?.total ?? 0);
      };
      if (filter.keyset) {
        const after = filter.keyset.after;
        const { key } = sortOf(filter.sort);
        const { rows } = await executePrepared<Raw<Project, 'id' | 'owner_id'> & { total: string; cursor_value: string }>(
          db,
          sql`SELECT ${projectColumns}, ${SORT_EXPRESSIONS[key].expression}::text AS cursor_value,
            (SELECT count(*) FROM ${withOwnerAndViewer(viewerId)} WHERE ${where}) AS total
          FROM ${withOwnerAndViewer(viewerId)}
          WHERE ${where} AND ${after ? keysetAfter(filter.sort, after) : sql`true`}
          ORDER BY ${orderBy(filter.sort)} LIMIT ${filter.limit + 1}`,
        );
        // Past the last page the total has no row to ride on: counted apart.
        if (rows.length === 0) return { items: [], total: after ? await countAll() : 0 };
        const page = rows.slice(0, filter.limit);
        const end = page[page.length - 1];
        const items = page.map(({ total: _, cursor_value: __, ...project }) => toProject(project));
        const last = rows.length > filter.limit && end ? { value: end.cursor_value, id: Number(end.id) } : undefined;
        return { items, total: Number(rows[0]?.total ?? 0), last };
      }
      const { rows } = await executePrepared<Raw<Project, 'id' | 'owner_id'> & { total: string }>(
        db,
        sql`SELECT ${projectColumns}, count(*) OVER () AS total FROM ${withOwnerAndViewer(viewerId)}
          WHERE ${where} ORDER BY ${orderBy(filter.sort)} LIMIT ${filter.limit} OFFSET ${filter.offset}`,
      );
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
