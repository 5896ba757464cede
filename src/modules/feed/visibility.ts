import { type SQL, sql } from 'drizzle-orm';
import type { Role } from '../../db/enums.js';
import { tasks, webhooks } from '../../db/schema.js';
import { memberProjects, visibleTo } from '../tasks/access.js';

const ADMIN: Role = 'admin';

/**
 * Whether the user `u` (a `users` row under that alias) may see what an outbox event (its `payload`)
 * is about, now: written once for every consumer that hands events to users (the webhook feed and
 * delivery worker, the live stream). An inactive user nothing; an admin everything; a task, by the
 * tasks module's own rule (access.ts) on its row, or, once it is deleted, on its last state as the
 * event tells it (its creator and project, against the user's memberships now); a project, its
 * members (a deleted project has none left: only admins hear of its deletion); a user's own events
 * (account, labels) only that user; a webhook's, its owner.
 */
export function visibleToUser(payload: SQL): SQL {
  const subjectId = sql`(${payload}->'subject'->>'id')::bigint`;
  const subjectType = sql`${payload}->'subject'->>'type'`;
  const viewer = sql`u.id`;
  const lastState = {
    userId: sql`(${payload}->'data'->>'user_id')::bigint`,
    projectId: sql`(${payload}->'data'->>'project_id')::bigint`,
  };
  return sql`CASE
    WHEN NOT u.is_active THEN false
    WHEN u.role = ${ADMIN} THEN true
    WHEN ${subjectType} = 'task' THEN coalesce(
      (SELECT ${visibleTo(viewer)} FROM ${tasks} WHERE ${tasks.id} = ${subjectId}),
      ${visibleTo(viewer, lastState)})
    WHEN ${subjectType} = 'project' THEN ${subjectId} IN (${memberProjects(viewer)})
    WHEN ${subjectType} = 'user' THEN ${subjectId} = u.id
    WHEN ${subjectType} = 'webhook' THEN EXISTS (SELECT 1 FROM ${webhooks} x WHERE x.id = ${subjectId} AND x.user_id = u.id)
    ELSE false
  END`;
}
