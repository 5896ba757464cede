import { type Placeholder, type SQL, sql } from 'drizzle-orm';
import { PROJECT_EDITING_ROLES } from '../../db/enums.js';
import { projectMembers, tasks } from '../../db/schema.js';

/**
 * Who may see and change a task, written once as SQL for every statement that reads or writes tasks
 * (lists, reads by id, updates, deletes, label counts). A task in no project is its creator's alone;
 * a task in a project is seen by every member and changed by its editors and owner. Memberships are
 * read by the statement itself, never cached, so a removal or a demotion applies to the next request.
 * `viewer` is a user id: a value or a prepared statement's placeholder. Admins are not asked here:
 * their statements have no such condition.
 */

/** A user id: a value, or a prepared statement's placeholder. */
type Viewer = SQL | Placeholder | number;

/** The projects `viewer` is a member of (any role, or one of `roles`): the (user_id, project_id) index. */
export const memberProjects = (viewer: Viewer, roles?: readonly string[]): SQL =>
  roles
    ? sql`SELECT project_id FROM ${projectMembers} WHERE user_id = ${viewer} AND role IN (${sql.raw(roles.map((r) => `'${r}'`).join(', '))})`
    : sql`SELECT project_id FROM ${projectMembers} WHERE user_id = ${viewer}`;

/** The projects whose tasks `viewer` may create, change, move and delete. */
export const editableProjects = (viewer: Viewer): SQL => memberProjects(viewer, PROJECT_EDITING_ROLES);

/**
 * A task's creator and project: the columns of a `tasks` row, or values from elsewhere (a deleted
 * task's last state, as its event tells it: the webhooks' check at delivery time).
 */
interface TaskOwnership {
  userId: SQL | typeof tasks.userId;
  projectId: SQL | typeof tasks.projectId;
}
const TASK_ROW: TaskOwnership = { userId: tasks.userId, projectId: tasks.projectId };

/** The two disjoint parts of what `viewer` sees: their own tasks outside projects, and their projects' tasks. */
export const ownTasks = (viewer: Viewer, task = TASK_ROW): SQL => sql`(${task.userId} = ${viewer} AND ${task.projectId} IS NULL)`;
export const projectTasks = (viewer: Viewer, task = TASK_ROW): SQL => sql`${task.projectId} IN (${memberProjects(viewer)})`;

/** The task (a row of `tasks`, or `task`'s values) is one `viewer` may see. */
export const visibleTo = (viewer: Viewer, task = TASK_ROW): SQL =>
  sql`(${ownTasks(viewer, task)} OR ${projectTasks(viewer, task)})`;

/** The task is one `viewer` may change, move or delete. */
export const editableBy = (viewer: Viewer): SQL =>
  sql`(${ownTasks(viewer)} OR ${tasks.projectId} IN (${editableProjects(viewer)}))`;
