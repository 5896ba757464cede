import { type SQL, sql } from 'drizzle-orm';
import type { ProjectRole } from '../../db/enums.js';
import { projectMembers, projects } from '../../db/schema.js';
import { likePattern } from '../../lib/pagination.js';
import type { ProjectSort, ProjectSortKey } from './schemas.js';

// The list of projects: its filters, its orders and its keyset (the sort keys' indexes: schema.ts).

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
export const projectColumns = sql`p.id, p.name, p.description, o.user_id AS owner_id, m.role, p.created_at, p.updated_at`;
export const withOwnerAndViewer = (viewerId: number) => sql`${projects} p
  JOIN ${projectMembers} o ON o.project_id = p.id AND o.role = 'owner'
  LEFT JOIN ${projectMembers} m ON m.project_id = p.id AND m.user_id = ${viewerId}`;

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
 * The statements of one list request: its page (with the total on each row; a keyset page reads one
 * row more than it shows) and the total alone, for a page past the last. `all`: every project (an
 * admin's list); otherwise those `viewerId` is a member of.
 */
export function listStatements(viewerId: number, all: boolean, filter: ProjectFilter): { page: SQL; count: SQL } {
  const where = sql.join(
    [
      all ? sql`true` : sql`m.user_id IS NOT NULL`,
      filter.q ? sql`(p.name ILIKE ${likePattern(filter.q)} OR p.description ILIKE ${likePattern(filter.q)})` : sql`true`,
      filter.roles ? sql`m.role = ANY(${`{${filter.roles.join(',')}}`}::project_role[])` : sql`true`,
    ],
    sql` AND `,
  );
  const count = sql`SELECT count(*) AS total FROM ${withOwnerAndViewer(viewerId)} WHERE ${where}`;
  if (!filter.keyset) {
    return {
      page: sql`SELECT ${projectColumns}, count(*) OVER () AS total FROM ${withOwnerAndViewer(viewerId)}
        WHERE ${where} ORDER BY ${orderBy(filter.sort)} LIMIT ${filter.limit} OFFSET ${filter.offset}`,
      count,
    };
  }
  const after = filter.keyset.after;
  const { key } = sortOf(filter.sort);
  return {
    page: sql`SELECT ${projectColumns}, ${SORT_EXPRESSIONS[key].expression}::text AS cursor_value, (${count}) AS total
      FROM ${withOwnerAndViewer(viewerId)}
      WHERE ${where} AND ${after ? keysetAfter(filter.sort, after) : sql`true`}
      ORDER BY ${orderBy(filter.sort)} LIMIT ${filter.limit + 1}`,
    count,
  };
}
