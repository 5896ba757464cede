import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Problem } from '../lib/schemas.js';

const API_DESCRIPTION = `Task management API. Authenticate with **POST /api/v1/auth/login** (or the Authorize button,
OAuth2 password flow), then send \`Authorization: Bearer <access_token>\`. Errors are RFC 9457
\`application/problem+json\` with a string \`detail\`; validation errors (422) add an \`errors\` array.`;

/** OpenAPI 3.1 generated from the route schemas, served at /openapi.json, with Swagger UI at /docs. */
async function docs(app: FastifyInstance) {
  app.addSchema(Problem);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'task-api', version: '1.0.0', description: API_DESCRIPTION },
      tags: [
        { name: 'auth', description: 'Registration, login, token refresh and logout' },
        { name: 'users', description: 'Accounts; listing and changing other users is for admins' },
        { name: 'tasks', description: "Tasks: each user's own; admins see all" },
        { name: 'admin', description: 'Admins only: user management and statistics' },
        { name: 'ops', description: 'Liveness, readiness and metrics, for load balancers and monitoring' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          OAuth2PasswordBearer: { type: 'oauth2', flows: { password: { tokenUrl: '/api/v1/auth/login', scopes: {} } } },
        },
      },
    },
    // Shared schemas keep their $id as their component name (#/components/schemas/Problem).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(docs, { name: 'docs' });
