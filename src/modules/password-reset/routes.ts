import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { problemResponses } from '../../lib/schemas.js';
import { PASSWORD_RESET_ACCEPTED, PasswordResetAccepted, PasswordResetConfirmBody, PasswordResetRequestBody } from './schemas.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

const passwordResetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { rateLimit: limits, passwordReset } = app.config;
  const service = app.passwordResetService;
  // Requests per client address (in place of the general budget); per target email in the service.
  const perAddress = {
    rateLimit: {
      max: passwordReset.addressMax,
      timeWindow: passwordReset.windowMs,
      keyGenerator: (r: FastifyRequest) => `password-reset:${app.clientKey(r)}`,
      groupId: 'password-reset',
    },
  };
  // Confirming spends the budget of the other credential-taking routes (register, login, refresh), per address.
  const confirmPerAddress = {
    rateLimit: {
      max: limits.authMax,
      timeWindow: limits.windowMs,
      keyGenerator: (r: FastifyRequest) => `auth:${app.clientKey(r)}`,
      groupId: 'auth',
    },
  };

  app.post(
    '/auth/password-reset',
    {
      config: perAddress,
      schema: {
        tags: ['auth'],
        summary: 'Ask for a password reset mail',
        description:
          'Mails a single-use link (valid `PASSWORD_RESET_TOKEN_MINUTES`) to an active account with this email. ' +
          'The answer is the same 202 whether or not such an account exists; the mail is sent in the background. ' +
          'A 503 when mail is not configured on this server.',
        body: PasswordResetRequestBody,
        response: { 202: PasswordResetAccepted, ...problemResponses(400, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      await service.request(request.body.email);
      return reply.code(202).headers(NO_STORE).send({ detail: PASSWORD_RESET_ACCEPTED });
    },
  );

  app.post(
    '/auth/password-reset/confirm',
    {
      config: confirmPerAddress,
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a password reset token',
        description:
          'Spends the token, sets the password and ends every login of the account. A used, expired, replaced or ' +
          'unknown token, or one of a deactivated account, is one 400. A 503 when mail is not configured on this server.',
        body: PasswordResetConfirmBody,
        response: {
          204: Type.Null({ description: 'The password is changed; every login of the account has ended' }),
          ...problemResponses(400, 413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      await service.confirm(request.body.token, request.body.new_password);
      return reply.code(204).headers(NO_STORE).send(null);
    },
  );
};

export default passwordResetRoutes;
