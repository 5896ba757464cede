import { type SQL, sql } from 'drizzle-orm';
import type { Role } from '../../db/enums.js';
import { tasks, webhooks } from '../../db/schema.js';
import { memberProjects, visibleTo } from '../tasks/access.js';

const ADMIN: Role = 'admin';

/**
 * What deciding an event's visibility needs from it, read once per event (the payload is `json`:
 * each `->` parses the text again, so not once per user asked about): put it in the FROM clause as
 * `CROSS JOIN LATERAL (${eventFacts(payload)}) <alias>`. A task's creator and project come from its
 * row, or, once it is deleted, from its last state as the event tells it.
 */
export function eventFacts(payload: SQL): SQL {
  const subjectType = sql`${payload}->'subject'->>'type'`;
  const subjectId = sql`(${payload}->'subject'->>'id')::bigint`;
  return sql`SELECT s.subject_type, s.subject_id,
      CASE WHEN t.id IS NULL THEN (${payload}->'data'->>'user_id')::bigint ELSE t.user_id END AS task_user_id,
      CASE WHEN t.id IS NULL THEN (${payload}->'data'->>'project_id')::bigint ELSE t.project_id END AS task_project_id
    FROM (SELECT ${subjectType} AS subject_type, ${subjectId} AS subject_id) s
    LEFT JOIN ${tasks} t ON s.subject_type = 'task' AND t.id = s.subject_id`;
}

/**
 * Whether the user `u` (a `users` row under that alias) may see what an event is about, now, given
 * its facts (`facts`: the alias of eventFacts). Written once for every consumer that hands events to
 * users (the webhook feed and delivery worker, the live stream). An inactive user nothing; an admin
 * everything; a task, by the tasks module's own rule (access.ts) on its creator and project, against
 * the user's memberships now; a project, its members (a deleted project has none left: only admins
 * hear of its deletion); a user's own events (account, labels) only that user; a webhook's, its owner.
 */
export function visibleToUser(facts: string): SQL {
  const f = (column: string) => sql.raw(`${facts}.${column}`);
  const viewer = sql`u.id`;
  return sql`CASE
    WHEN NOT u.is_active THEN false
    WHEN u.role = ${ADMIN} THEN true
    WHEN ${f('subject_type')} = 'task' THEN ${visibleTo(viewer, { userId: f('task_user_id'), projectId: f('task_project_id') })}
    WHEN ${f('subject_type')} = 'project' THEN ${f('subject_id')} IN (${memberProjects(viewer)})
    WHEN ${f('subject_type')} = 'user' THEN ${f('subject_id')} = u.id
    WHEN ${f('subject_type')} = 'webhook' THEN EXISTS (SELECT 1 FROM ${webhooks} x WHERE x.id = ${f('subject_id')} AND x.user_id = u.id)
    ELSE false
  END`;
}
