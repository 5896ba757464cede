import type { ProjectRole } from '../../db/enums.js';
import type { Cursors } from '../../lib/cursor.js';
import { conflict, forbidden, invalidField, notFound } from '../../lib/errors.js';
import { pageOf } from '../../lib/pagination.js';
import { trimWhiteSpace } from '../../lib/text.js';
import { type Actor, actorOf } from '../events/events.js';
import type { UnitOfWork, Work } from '../events/unit-of-work.js';
import type { CurrentUser } from '../sessions/current-user.js';
import { memberEvent, memberRoleChanged, projectEvent } from './events.js';
import type { ProjectAccess, ProjectsRepository } from './repository.js';
import {
  DEFAULT_PROJECT_SORT,
  type Member,
  type MemberAdd,
  type Project,
  type ProjectCreate,
  type ProjectListQuery,
  type ProjectUpdate,
} from './schemas.js';

// A project the caller may not see is as unknown as one that does not exist: one message for both.
const PROJECT_NOT_FOUND = 'Project not found';
const MEMBER_NOT_FOUND = 'Member not found';

const isAdmin = (user: CurrentUser) => user.role === 'admin';

/** A project's tasks, which the tasks module keeps: how many there are, and deleting them all with their events. */
export interface ProjectTasks {
  countInProject(work: Work, projectId: number): Promise<number>;
  deleteInProject(work: Work, projectId: number, actor: Actor): Promise<number>;
}

/**
 * Projects and their members. Who may do what is decided on every request from the database (the
 * caller's membership row, read in the write's own transaction after the project's lock): nothing is
 * cached, so a removal or a role change applies to that user's very next request on every instance.
 * Outsiders get 404 on every route; members without the right get 403; admins may do everything.
 */
export function createProjectsService(
  repository: ProjectsRepository,
  { unitOfWork, cursors, tasks }: { unitOfWork: UnitOfWork; cursors: Cursors; tasks: ProjectTasks },
) {
  /** Locks the project and returns the caller's role (null: an admin who is not a member); 404 for an outsider. */
  const access = async (work: Work, user: CurrentUser, projectId: number, forDelete = false): Promise<ProjectAccess> => {
    const found = await repository.lock(work.db, projectId, user.id, forDelete);
    if (!found || (found.role === null && !isAdmin(user))) throw notFound(PROJECT_NOT_FOUND);
    return found;
  };
  const requireOwner = (user: CurrentUser, { role }: ProjectAccess, what: string) => {
    if (role !== 'owner' && !isAdmin(user)) throw forbidden(`Only the project's owner may ${what}`);
  };

  return {
    async create(user: CurrentUser, input: ProjectCreate): Promise<Project> {
      return unitOfWork.run(async (work) => {
        const project = await repository.insert(work.db, user.id, {
          name: trimWhiteSpace(input.name),
          description: input.description ?? null,
        });
        await work.record(() => [projectEvent('project.created', actorOf(user), project)]);
        return project;
      });
    },

    /** A page; with `cursor` (keyset paging) also the next page's cursor, when there is one. */
    async list(
      user: CurrentUser,
      query: ProjectListQuery,
    ): Promise<{ items: Project[]; total: number; next?: string | undefined }> {
      const sort = query.sort ?? DEFAULT_PROJECT_SORT;
      const filter = { q: query.q, roles: query.role?.split(',') as ProjectRole[] | undefined, sort, ...pageOf(query) };
      if (query.cursor === undefined) return repository.list(user.id, isAdmin(user), filter);
      // What a cursor is bound to: the sort and the filters as asked (not who is asking: which projects a
      // caller sees is the list's WHERE, whatever the cursor). The limit may change mid-walk.
      const descending = sort.startsWith('-');
      const key = descending ? sort.slice(1) : sort;
      const filters = { q: filter.q, roles: filter.roles };
      const position = query.cursor === '' ? undefined : cursors.decode(query.cursor, key, descending, filters);
      const after = position && { value: String(position.value), id: position.id };
      const page = await repository.list(user.id, isAdmin(user), { ...filter, offset: 0, keyset: { after } });
      const next = page.last && cursors.encode({ sort: key, descending, ...page.last }, filters);
      return { items: page.items, total: page.total, next };
    },

    async get(user: CurrentUser, projectId: number): Promise<Project> {
      const project = await repository.find(projectId, user.id);
      if (!project || (project.role === null && !isAdmin(user))) throw notFound(PROJECT_NOT_FOUND);
      return project;
    },

    /** Owners and editors (and admins) rename and describe; viewers may not. */
    async update(user: CurrentUser, projectId: number, change: ProjectUpdate): Promise<Project> {
      return unitOfWork.run(async (work) => {
        const { role } = await access(work, user, projectId);
        if (role === 'viewer' && !isAdmin(user)) throw forbidden('A viewer may not change the project');
        const { before, after } = await repository.update(work.db, projectId, user.id, {
          ...(change.name === undefined ? {} : { name: trimWhiteSpace(change.name) }),
          ...(change.description === undefined ? {} : { description: change.description }),
        });
        if (before.name !== after.name || before.description !== after.description) {
          await work.record(() => [projectEvent('project.updated', actorOf(user), after)]);
        }
        return after;
      });
    },

    /**
     * The owner (or an admin) deletes; a project with tasks only `withTasks`: its tasks go first, each
     * with its task.deleted event, then the project, in one transaction. The project's lock (FOR UPDATE)
     * keeps a task from being added or moved in meanwhile (their foreign key check waits for it).
     */
    async remove(user: CurrentUser, projectId: number, withTasks: boolean): Promise<void> {
      await unitOfWork.run(async (work) => {
        requireOwner(user, await access(work, user, projectId, true), 'delete it');
        const count = await tasks.countInProject(work, projectId);
        if (count > 0 && !withTasks) {
          throw conflict(`The project has ${count} task(s): delete them first, or send with_tasks=true to delete them with it`);
        }
        const actor = actorOf(user);
        if (count > 0) await tasks.deleteInProject(work, projectId, actor);
        const deleted = await repository.delete(work.db, projectId, user.id);
        if (deleted) await work.record(() => [projectEvent('project.deleted', actor, deleted)]);
      });
    },

    /** Any member (and an admin) sees the members. */
    async members(user: CurrentUser, projectId: number, page: { limit?: number; offset?: number }) {
      const role = await repository.roleIn(projectId, user.id);
      if (role === undefined && !(isAdmin(user) && (await repository.find(projectId, user.id)))) {
        throw notFound(PROJECT_NOT_FOUND);
      }
      return repository.members(projectId, pageOf(page));
    },

    /** The owner (or an admin) adds a user as editor or viewer. */
    async addMember(user: CurrentUser, projectId: number, input: MemberAdd): Promise<Member> {
      return unitOfWork.run(async (work) => {
        requireOwner(user, await access(work, user, projectId), 'add members');
        const userId = await repository.userIdByUsername(work.db, input.username);
        if (userId === undefined) throw invalidField('username', 'no user has this username');
        const member = await repository.addMember(work.db, projectId, userId, input.role);
        if (!member) throw conflict('The user is already a member of the project');
        await work.record(() => [memberEvent('project.member_added', actorOf(user), projectId, member)]);
        return member;
      });
    },

    /**
     * The owner (or an admin) changes a member's role. `owner` hands the project over: the member must be
     * an editor, and the old owner becomes an editor, in one transaction. The owner's own role changes
     * only that way.
     */
    async changeRole(user: CurrentUser, projectId: number, memberId: number, role: ProjectRole): Promise<Member> {
      return unitOfWork.run(async (work) => {
        requireOwner(user, await access(work, user, projectId), "change members' roles");
        const target = await repository.member(work.db, projectId, memberId);
        if (!target) throw notFound(MEMBER_NOT_FOUND);
        if (target.role === role) return target;
        if (target.role === 'owner') {
          throw conflict("The owner's role changes only by handing ownership to another member (an editor)");
        }
        const actor = actorOf(user);
        if (role !== 'owner') {
          const changed = (await repository.setRole(work.db, projectId, memberId, role)) as Member;
          await work.record(() => [memberRoleChanged(actor, projectId, changed, target.role)]);
          return changed;
        }
        if (target.role !== 'editor') throw conflict('Ownership goes only to an editor: make this member an editor first');
        const { owner_id: ownerId } = (await repository.find(projectId, user.id, work.db)) as Project;
        // The old owner first: the unique index allows one owner at any moment.
        const formerOwner = (await repository.setRole(work.db, projectId, ownerId, 'editor')) as Member;
        const newOwner = (await repository.setRole(work.db, projectId, memberId, 'owner')) as Member;
        await work.record(() => [
          memberRoleChanged(actor, projectId, newOwner, 'editor'),
          memberRoleChanged(actor, projectId, formerOwner, 'owner'),
        ]);
        return newOwner;
      });
    },

    /**
     * The owner (or an admin) removes any member but the owner; any member may remove themself (leave).
     * The owner cannot leave: they hand ownership over first.
     */
    async removeMember(user: CurrentUser, projectId: number, memberId: number): Promise<void> {
      await unitOfWork.run(async (work) => {
        const caller = await access(work, user, projectId);
        if (memberId !== user.id) requireOwner(user, caller, 'remove other members');
        const target = await repository.member(work.db, projectId, memberId);
        if (!target) throw notFound(MEMBER_NOT_FOUND);
        if (target.role === 'owner') {
          throw conflict('The owner cannot leave or be removed: hand ownership to another member first');
        }
        await repository.removeMember(work.db, projectId, memberId);
        await work.record(() => [memberEvent('project.member_removed', actorOf(user), projectId, target)]);
      });
    },
  };
}

export type ProjectsService = ReturnType<typeof createProjectsService>;
