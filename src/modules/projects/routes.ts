import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  pagedList,
  pageOf,
  refuseCursorWithOffset,
  setCursorPaginationHeaders,
  setPaginationHeaders,
} from '../../lib/pagination.js';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import {
  Member,
  MemberAddBody,
  MemberListQuery,
  MemberParams,
  MemberUpdateBody,
  Project,
  ProjectCreateBody,
  ProjectDeleteQuery,
  ProjectListQuery,
  ProjectUpdateBody,
} from './schemas.js';
import type { ProjectsService } from './service.js';

const OUTSIDER =
  'A project the caller is not a member of is a 404, exactly like one that does not exist (admins see every project).';

/** The project and member routes: thin, over the projects service. */
const projectsRoutes: FastifyPluginAsyncTypebox<{ service: ProjectsService }> = async (app, { service }) => {
  app.addHook('preParsing', app.authenticate);
  const common = { tags: ['projects'], security: BEARER_SECURITY };

  app.post(
    '/projects',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: 'Create a project',
        description: 'The caller becomes its owner. Any field other than name and description is refused.',
        body: ProjectCreateBody,
        response: { 201: Project, ...problemResponses(400, 401, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const project = await service.create(request.currentUser, request.body);
      return reply.code(201).header('location', `/api/v1/projects/${project.id}`).send(project);
    },
  );

  app.get(
    '/projects',
    {
      config: { scope: 'projects:read' },
      schema: {
        ...common,
        summary: 'List projects',
        description:
          'The projects the caller is a member of (admins: every project), one page at a time; X-Total-Count and Link headers describe the rest. ' +
          'Two ways of paging, as for tasks: offset and limit (Link first, prev, next, last), or keyset paging with cursor (send `cursor=` ' +
          'for the first page, then follow Link rel="next", which carries the next cursor; Link first and next only). A cursor is valid ' +
          'only with the sort, q and role it was made for, and never with offset (422).',
        querystring: ProjectListQuery,
        response: { 200: pagedList(Project, 'ProjectList'), ...problemResponses(401, 422) },
      },
    },
    async (request, reply) => {
      if (request.query.cursor === undefined) {
        const { items, total } = await service.list(request.currentUser, request.query);
        setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
        return items;
      }
      refuseCursorWithOffset(request.url);
      const { items, total, next } = await service.list(request.currentUser, request.query);
      setCursorPaginationHeaders(request, reply, { total, limit: pageOf(request.query).limit, next });
      return items;
    },
  );

  app.get(
    '/projects/:id',
    {
      config: { scope: 'projects:read' },
      schema: {
        ...common,
        summary: 'Get a project',
        description: OUTSIDER,
        params: IdParams,
        response: { 200: Project, ...problemResponses(401, 404, 422) },
      },
    },
    async (request) => service.get(request.currentUser, request.params.id),
  );

  app.patch(
    '/projects/:id',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: 'Rename or describe a project',
        description: `The owner or an editor (or an admin) changes the fields sent; a viewer gets a 403. ${OUTSIDER}`,
        params: IdParams,
        body: ProjectUpdateBody,
        response: { 200: Project, ...problemResponses(400, 401, 403, 404, 413, 415, 422) },
      },
    },
    async (request) => service.update(request.currentUser, request.params.id, request.body),
  );

  app.delete(
    '/projects/:id',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: 'Delete a project',
        description:
          `The owner (or an admin) only; editors and viewers get a 403. A project that has tasks is a 409 unless with_tasks=true, ` +
          `which deletes its tasks with it. The memberships go with the project. ${OUTSIDER}`,
        params: IdParams,
        querystring: ProjectDeleteQuery,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.id, request.query.with_tasks ?? false);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/projects/:id/members',
    {
      config: { scope: 'projects:read' },
      schema: {
        ...common,
        summary: "List a project's members",
        description: `Any member (and an admin): the owner first, then editors, then viewers, each by username; paged like every list. ${OUTSIDER}`,
        params: IdParams,
        querystring: MemberListQuery,
        response: { 200: pagedList(Member, 'MemberList'), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      const { items, total } = await service.members(request.currentUser, request.params.id, request.query);
      setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
      return items;
    },
  );

  app.post(
    '/projects/:id/members',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: 'Add a member',
        description:
          `The owner (or an admin) adds a user, by username, as an editor or a viewer. An unknown username is a 422 (the field is wrong; ` +
          `the project is there), a user who already is a member a 409. ${OUTSIDER}`,
        params: IdParams,
        body: MemberAddBody,
        response: { 201: Member, ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.addMember(request.currentUser, request.params.id, request.body)),
  );

  app.patch(
    '/projects/:id/members/:user_id',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: "Change a member's role, or hand the project over",
        description:
          'The owner (or an admin) only. role owner hands ownership to this member, who must be an editor (409 otherwise); the old owner ' +
          `becomes an editor, in the same transaction. The owner's own role changes only by a hand-over (409). A user who is not a member is a 404. ${OUTSIDER}`,
        params: MemberParams,
        body: MemberUpdateBody,
        response: { 200: Member, ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request) => service.changeRole(request.currentUser, request.params.id, request.params.user_id, request.body.role),
  );

  app.delete(
    '/projects/:id/members/:user_id',
    {
      config: { scope: 'projects:write' },
      schema: {
        ...common,
        summary: 'Remove a member, or leave',
        description:
          'The owner (or an admin) removes any member but the owner; any member may remove themself (leave the project). The owner cannot ' +
          `leave or be removed until they have handed ownership over (409). The change applies to that user's very next request. ${OUTSIDER}`,
        params: MemberParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...problemResponses(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      await service.removeMember(request.currentUser, request.params.id, request.params.user_id);
      // Their next read, wherever it runs, sees the removal: never the project's tasks from a lagging replica.
      request.alsoWrittenFor = [request.params.user_id];
      return reply.code(204).send(null);
    },
  );
};

export default projectsRoutes;
