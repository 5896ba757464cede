import { type Static, Type } from 'typebox';
import { PROJECT_ROLES } from '../../db/enums.js';
import { cursorQuery } from '../../lib/cursor.js';
import { paginationQuery } from '../../lib/pagination.js';
import { OneOf, RowId, SAFE_TEXT, Timestamp, UNSTORABLE } from '../../lib/schemas.js';
import { WHITE_SPACE } from '../../lib/text.js';
import { Username } from '../users/schemas.js';

export { PROJECT_ROLES, type ProjectRole } from '../../db/enums.js';

/** Roles an owner may give when adding a member: ownership only moves by a hand-over. */
export const MEMBER_ROLES = ['editor', 'viewer'] as const;
export const PROJECT_SORT_KEYS = ['created_at', 'updated_at', 'name'] as const;
export type ProjectSortKey = (typeof PROJECT_SORT_KEYS)[number];
export type ProjectSort = ProjectSortKey | `-${ProjectSortKey}`;
export const DEFAULT_PROJECT_SORT: ProjectSort = '-created_at';

/** Longest name, counted after trimming; as sent it may carry surrounding white space up to NAME_MAX_RAW. */
export const NAME_MAX = 100;
const NAME_MAX_RAW = 500;
export const DESCRIPTION_MAX = 10_000;

const Role = OneOf(PROJECT_ROLES);

export const Project = Type.Object(
  {
    id: RowId([7]),
    name: Type.String({ maxLength: NAME_MAX, pattern: SAFE_TEXT, examples: ['Website relaunch'] }),
    description: Type.Union([Type.String({ maxLength: DESCRIPTION_MAX, pattern: SAFE_TEXT }), Type.Null()], {
      examples: ['Everything for the new site, due in spring'],
    }),
    owner_id: { ...RowId([1]), description: "The owner's user id: the one member whose role is owner" },
    role: Type.Union([Role, Type.Null()], {
      description: "The caller's role in the project; null for an admin who is not a member",
      examples: ['editor'],
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Project', additionalProperties: false },
);
export type Project = Static<typeof Project>;

export const Member = Type.Object(
  {
    user_id: RowId([2]),
    username: Type.String({ maxLength: 50, pattern: '^[A-Za-z0-9_.-]+$', examples: ['grace'] }),
    role: Role,
    created_at: { ...Timestamp, description: 'When the user joined the project' },
  },
  { title: 'Member', additionalProperties: false },
);
export type Member = Static<typeof Member>;

// 1 to NAME_MAX characters once surrounding white space is trimmed, safe text: bounded quantifiers or
// disjoint classes only, so the match is linear in the length (as the task title's).
const Name = Type.String({
  minLength: 1,
  maxLength: NAME_MAX_RAW,
  pattern: `^[${WHITE_SPACE}]*[^${WHITE_SPACE}${UNSTORABLE}](?:[^${UNSTORABLE}]{0,${NAME_MAX - 2}}[^${WHITE_SPACE}${UNSTORABLE}])?[${WHITE_SPACE}]*$`,
  description: `1 to ${NAME_MAX} characters once surrounding white space is trimmed (at most ${NAME_MAX_RAW} as sent); stored trimmed`,
  examples: ['Website relaunch'],
});
const Description = Type.Union([Type.String({ maxLength: DESCRIPTION_MAX, pattern: SAFE_TEXT }), Type.Null()], {
  description: 'Up to 10,000 characters, or null; stored as sent',
  examples: ['Everything for the new site, due in spring'],
});

export const ProjectCreateBody = Type.Object(
  { name: Name, description: Type.Optional({ ...Description, default: null }) },
  { title: 'ProjectCreate', additionalProperties: false },
);
export type ProjectCreate = Static<typeof ProjectCreateBody>;

export const ProjectUpdateBody = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  {
    title: 'ProjectUpdate',
    additionalProperties: false,
    minProperties: 1,
    description: 'The fields to change (at least one); the others are kept',
  },
);
export type ProjectUpdate = Static<typeof ProjectUpdateBody>;

const listOf = (values: readonly string[]) => `^(${values.join('|')})(,(${values.join('|')}))*$`;

export const ProjectListQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        pattern: SAFE_TEXT,
        description: 'Case-insensitive text in the name or the description',
        examples: ['website'],
      }),
    ),
    role: Type.Optional(
      Type.String({
        maxLength: 100,
        pattern: listOf(PROJECT_ROLES),
        description:
          "The caller's role, one or several comma-separated: the projects where the caller is that (an admin's other projects never match)",
        examples: ['owner,editor'],
      }),
    ),
    sort: Type.Optional(
      Type.Unsafe<ProjectSort>({
        type: 'string',
        enum: PROJECT_SORT_KEYS.flatMap((k) => [k, `-${k}`]),
        default: DEFAULT_PROJECT_SORT,
        description: 'Sort key; a leading - sorts descending. Ties are broken by id. name sorts case-insensitively.',
        examples: ['name'],
      }),
    ),
    ...paginationQuery,
    ...cursorQuery,
  },
  { additionalProperties: false },
);
export type ProjectListQuery = Static<typeof ProjectListQuery>;

export const ProjectDeleteQuery = Type.Object(
  {
    with_tasks: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Delete the project even when it has tasks, and its tasks with it; without it, a project with tasks is a 409',
        examples: [true],
      }),
    ),
  },
  { additionalProperties: false },
);

export const MemberListQuery = Type.Object({ ...paginationQuery }, { additionalProperties: false });

export const MemberAddBody = Type.Object(
  {
    username: { ...Username, description: 'The user to add, by username (any case). An unknown username is a 422' },
    role: {
      ...OneOf(MEMBER_ROLES),
      description: 'editor or viewer: ownership moves only by a hand-over (PATCH the member)',
      examples: ['editor'],
    },
  },
  { title: 'MemberCreate', additionalProperties: false },
);
export type MemberAdd = Static<typeof MemberAddBody>;

export const MemberUpdateBody = Type.Object(
  {
    role: {
      ...Role,
      description:
        'The new role. owner hands ownership to this member, who must be an editor; the old owner becomes an editor, in the same transaction',
      examples: ['owner'],
    },
  },
  { title: 'MemberUpdate', additionalProperties: false },
);

export const MemberParams = Type.Object(
  {
    id: { ...RowId([7]), description: "The project's id" },
    user_id: { ...RowId([2]), description: "The member's user id" },
  },
  { additionalProperties: false },
);
