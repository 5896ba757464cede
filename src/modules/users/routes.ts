import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  pagedList,
  pageOf,
  refuseCursorWithOffset,
  setCursorPaginationHeaders,
  setPaginationHeaders,
} from '../../lib/pagination.js';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import { actorOf } from '../events/events.js';
import { User, UserAdminUpdate, UserListQuery, UserSelfUpdate } from './schemas.js';

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.usersService;
  const adminOnly = app.requireRole('admin');
  const common = { tags: ['users'], security: BEARER_SECURITY };
  // Admin routes carry the `admin` tag as well: the OpenAPI document says which routes need the role.
  const adminCommon = { tags: ['users', 'admin'], security: BEARER_SECURITY };

  app.get(
    '/users/me',
    {
      preParsing: app.authenticate,
      config: { scope: 'profile:read', unverifiedAllowed: true },
      schema: { ...common, summary: 'The current user', response: { 200: User, ...problemResponses(401) } },
    },
    async (request) => {
      const { sessionId: _, token, ...user } = request.currentUser;
      // The account's role, also to a token that acts with less (one without the admin scope).
      return { ...user, role: token?.accountRole ?? user.role };
    },
  );

  app.patch(
    '/users/me',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        ...common,
        summary: 'Change my email or password',
        description:
          'Needs `current_password`, and `email` or `password` (or both); a wrong current password is **403** (the token ' +
          'itself is valid, so not 401) and spends an attempt of the account’s login budget: once it is spent, **429** ' +
          '(as login answers). ' +
          'A new password revokes every other login of the account; this one stays valid.',
        body: UserSelfUpdate,
        response: { 200: User, ...problemResponses(400, 401, 403, 409, 413, 415, 422, 429) },
      },
    },
    async (request) =>
      service.updateSelf(request.currentUser.id, request.currentUser.sessionId, request.body, app.clientKey(request)),
  );

  app.get(
    '/users',
    {
      preParsing: adminOnly,
      config: { scope: 'admin' },
      schema: {
        ...adminCommon,
        summary: 'List users (admins)',
        description:
          'Paginated like tasks: X-Total-Count and Link headers, by offset or by cursor (keyset on id: send `cursor=` ' +
          'for the first page, then follow Link rel="next"). Ordered by id.',
        querystring: UserListQuery,
        response: {
          200: pagedList(User, 'UserList'),
          ...problemResponses(401, 403, 422),
        },
      },
    },
    async (request, reply) => {
      if (request.query.cursor === undefined) {
        const { items, total } = await service.list(request.currentUser.id, request.query);
        setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
        return items;
      }
      refuseCursorWithOffset(request.url);
      const { items, total, next } = await service.list(request.currentUser.id, request.query);
      setCursorPaginationHeaders(request, reply, { total, limit: pageOf(request.query).limit, next });
      return items;
    },
  );

  app.get(
    '/users/:id',
    {
      preParsing: adminOnly,
      config: { scope: 'admin' },
      schema: {
        ...adminCommon,
        summary: 'Get a user (admins)',
        params: IdParams,
        response: { 200: User, ...problemResponses(401, 403, 404, 422) },
      },
    },
    async (request) => service.get(request.currentUser.id, request.params.id),
  );

  app.patch(
    '/users/:id',
    {
      preParsing: adminOnly,
      config: { scope: 'admin' },
      schema: {
        ...adminCommon,
        summary: 'Change a user’s role or activity (admins)',
        description:
          'Takes effect on that user’s very next request, on every instance. Deactivating also ends their logins. ' +
          'Demoting or deactivating the last active admin is a 409.',
        params: IdParams,
        body: UserAdminUpdate,
        response: { 200: User, ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request) => service.adminUpdate(actorOf(request.currentUser), request.params.id, request.body),
  );
};

export default usersRoutes;
