import type { ProjectRole } from '../../db/enums.js';
import { type Actor, type NewEvent, newEvent } from '../events/events.js';
import type { ProjectData } from './repository.js';
import type { Member, Project } from './schemas.js';

export const PROJECT_EVENT_TYPES = [
  'project.created',
  'project.updated',
  'project.deleted',
  'project.member_added',
  'project.member_role_changed',
  'project.member_removed',
] as const;
export type ProjectEventType = (typeof PROJECT_EVENT_TYPES)[number];

/** A project as events show it: the caller's role is the caller's, not the project's. */
function projectData(project: Project): ProjectData {
  const { role: _, ...data } = project;
  return data;
}

/** Every event of a project, its members' included, is keyed by the project: consumers see them in order. */
export const projectEvent = (
  type: Extract<ProjectEventType, `project.${'created' | 'updated' | 'deleted'}`>,
  actor: Actor,
  project: Project,
) => newEvent(type, actor, { type: 'project', id: project.id }, projectData(project));

/** A member event's data: the project's id and the member as GET /projects/{id}/members shows it (for a removal, as it was). */
export const memberEvent = (
  type: Extract<ProjectEventType, 'project.member_added' | 'project.member_removed'>,
  actor: Actor,
  projectId: number,
  member: Member,
): NewEvent => newEvent(type, actor, { type: 'project', id: projectId }, { project_id: projectId, ...member });

/** A role change also says the role before it. A hand-over is two: the new owner's, then the old owner's. */
export const memberRoleChanged = (actor: Actor, projectId: number, member: Member, previousRole: ProjectRole): NewEvent =>
  newEvent(
    'project.member_role_changed',
    actor,
    { type: 'project', id: projectId },
    { project_id: projectId, ...member, previous_role: previousRole },
  );
