import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pagedList, pageOf, setPaginationHeaders } from '../../lib/pagination.js';
import { BEARER_SECURITY, IdParams, problemResponses } from '../../lib/schemas.js';
import {
  CreatedWebhook,
  Delivery,
  MAX_WEBHOOKS_PER_USER,
  Webhook,
  WebhookCreateBody,
  WebhookListQuery,
  WebhookUpdateBody,
} from './schemas.js';
import type { WebhooksService } from './service.js';

const OWNER_ONLY =
  "Only the webhook's owner sees it: any other caller (an admin too) gets a 404, as for one that does not exist.";

/** The webhook routes: thin, over the webhooks service. No personal access token scope yet: a session's token only. */
const webhooksRoutes: FastifyPluginAsyncTypebox<{ service: WebhooksService }> = async (app, { service }) => {
  app.addHook('preParsing', app.authenticate);
  const common = { tags: ['webhooks'], security: BEARER_SECURITY };

  app.post(
    '/webhooks',
    {
      schema: {
        ...common,
        summary: 'Register a webhook',
        description:
          'Deliveries of the events named (README, "Integrations") are POSTed to url, signed as Standard Webhooks specifies with the secret in the ' +
          `response, which is shown this once. Only events about what the caller can see at delivery time are sent. At most ${MAX_WEBHOOKS_PER_USER} per user (409).`,
        body: WebhookCreateBody,
        response: { 201: CreatedWebhook, ...problemResponses(400, 401, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const webhook = await service.create(request.currentUser, request.body);
      return reply.code(201).header('location', `/api/v1/webhooks/${webhook.id}`).send(webhook);
    },
  );

  app.get(
    '/webhooks',
    {
      schema: {
        ...common,
        summary: 'List webhooks',
        description:
          "The caller's webhooks, oldest first, one page at a time; X-Total-Count and Link headers describe the rest. Never their secrets.",
        querystring: WebhookListQuery,
        response: { 200: pagedList(Webhook, 'WebhookList'), ...problemResponses(401, 422) },
      },
    },
    async (request, reply) => {
      const { items, total } = await service.list(request.currentUser, request.query);
      setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
      return items;
    },
  );

  app.get(
    '/webhooks/:id',
    {
      schema: {
        ...common,
        summary: 'Get a webhook',
        description: OWNER_ONLY,
        params: IdParams,
        response: { 200: Webhook, ...problemResponses(401, 404, 422) },
      },
    },
    async (request) => service.get(request.currentUser, request.params.id),
  );

  app.patch(
    '/webhooks/:id',
    {
      schema: {
        ...common,
        summary: 'Change a webhook',
        description: `Changes the fields sent: url, events, description, active (false pauses it, true enables it again). ${OWNER_ONLY}`,
        params: IdParams,
        body: WebhookUpdateBody,
        response: { 200: Webhook, ...problemResponses(400, 401, 404, 413, 415, 422) },
      },
    },
    async (request) => service.update(request.currentUser, request.params.id, request.body),
  );

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        ...common,
        summary: 'Delete a webhook',
        description: `Its deliveries, sent or waiting, go with it. ${OWNER_ONLY}`,
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      await service.remove(request.currentUser, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/webhooks/:id/test',
    {
      schema: {
        ...common,
        summary: 'Send a test delivery',
        description: `Queues a webhook.ping delivery (whatever events the webhook subscribes to), sent by the background worker like any other: follow it in the deliveries. A disabled webhook is a 409. ${OWNER_ONLY}`,
        params: IdParams,
        response: { 202: Delivery, ...problemResponses(401, 404, 409, 422) },
      },
    },
    async (request, reply) => reply.code(202).send(await service.test(request.currentUser, request.params.id)),
  );

  app.get(
    '/webhooks/:id/deliveries',
    {
      schema: {
        ...common,
        summary: "List a webhook's deliveries",
        description: `Newest first: each one's status, attempts, last response code and duration, error, and next retry. ${OWNER_ONLY}`,
        params: IdParams,
        querystring: WebhookListQuery,
        response: { 200: pagedList(Delivery, 'WebhookDeliveryList'), ...problemResponses(401, 404, 422) },
      },
    },
    async (request, reply) => {
      const { items, total } = await service.deliveries(request.currentUser, request.params.id, request.query);
      setPaginationHeaders(request, reply, { total, ...pageOf(request.query) });
      return items;
    },
  );
};

export default webhooksRoutes;
