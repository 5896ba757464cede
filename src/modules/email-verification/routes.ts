import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { BEARER_SECURITY, problemResponses } from '../../lib/schemas.js';
import { VERIFICATION_SENT, VerificationSent, VerifyEmailBody } from './schemas.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

const emailVerificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = app.config.rateLimit;
  const service = app.emailVerificationService;

  app.post(
    '/auth/verify-email',
    {
      // The per-address budget of the other routes that take a credential (register, login, refresh, reset confirm).
      config: {
        rateLimit: {
          max: limits.authMax,
          timeWindow: limits.windowMs,
          keyGenerator: (r: FastifyRequest) => `auth:${app.clientKey(r)}`,
          groupId: 'auth',
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Confirm an email with the token mailed to it',
        description:
          'Marks the account’s email verified, if the token was mailed to the address the account still has. ' +
          'A used, expired, replaced or unknown token is one 400. A 503 when mail is not configured on this server.',
        body: VerifyEmailBody,
        response: {
          204: Type.Null({ description: 'The email is verified' }),
          ...problemResponses(400, 413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      await service.verify(request.body.token);
      return reply.code(204).headers(NO_STORE).send(null);
    },
  );

  app.post(
    '/auth/verify-email/resend',
    {
      preParsing: app.authenticate,
      config: { unverifiedAllowed: true },
      schema: {
        tags: ['auth'],
        summary: 'Mail a new verification link to the caller’s email',
        description:
          'Voids the previous link. 409 when the email is verified already; limited per user ' +
          '(`EMAIL_VERIFICATION_RESEND_MAX`). A 503 when mail is not configured on this server.',
        security: BEARER_SECURITY,
        response: { 202: VerificationSent, ...problemResponses(401, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      await service.resend(request.currentUser);
      return reply.code(202).headers(NO_STORE).send({ detail: VERIFICATION_SENT });
    },
  );
};

export default emailVerificationRoutes;
