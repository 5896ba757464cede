import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { TOKEN_SCOPES } from '../db/enums.js';
import { Problem, ValidationProblem } from '../lib/schemas.js';
import { TOKEN_SECURITY_SCHEME } from '../modules/sessions/index.js';
import { nameComponents } from './openapi-components.js';
import { completeDocument } from './openapi-contract.js';
import { addExamples } from './openapi-examples.js';

const API_DESCRIPTION = `Task management API. Authenticate with **POST /api/v1/auth/login** (or the Authorize button,
OAuth2 password flow), then send \`Authorization: Bearer <access_token>\`. Errors are RFC 9457
\`application/problem+json\` with a string \`detail\`; validation errors (422) add an \`errors\` array.`;

const JWT_DESCRIPTION = `Access tokens are JWTs following RFC8725 (JSON Web Token Best Current Practices): HS256 only
(the algorithm is pinned when verifying; \`none\` and any other algorithm are refused), \`typ: at+jwt\`, issuer and
audience required and checked, short-lived (\`ACCESS_TOKEN_EXPIRE_MINUTES\`, 30 by default), revocable (logout ends
the login on every instance). Refresh with POST /api/v1/auth/refresh.`;

// The document's version is the package's: src/plugins/ and dist/plugins/ both sit two levels below it.
const PACKAGE_VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const TOKEN_DESCRIPTION = `Personal access tokens: \`tap_\` and 43 characters, made with POST /api/v1/users/me/tokens
and sent as \`Authorization: Bearer tap_…\`. Each operation lists the one scope it needs in this scheme's requirement
(of ${TOKEN_SCOPES.map((s) => `\`${s}\``).join(', ')}; a \`:write\` scope covers its \`:read\`); an operation that
lists none refuses tokens (account management needs a login). A token without the scope: 403 with
\`WWW-Authenticate: Bearer error="insufficient_scope", scope="…"\`.`;

/** OpenAPI 3.1 generated from the route schemas, served at /openapi.json, with Swagger UI at /docs. */
async function docs(app: FastifyInstance) {
  app.addSchema(Problem);
  app.addSchema(ValidationProblem);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'task-api',
        version: PACKAGE_VERSION,
        description: API_DESCRIPTION,
        contact: { name: 'task-api maintainers; report vulnerabilities as SECURITY.md describes' },
      },
      // Relative: the document is served by the API it describes, behind whatever proxy and scheme.
      servers: [
        {
          url: '/',
          description: `The server that serves this document (environment: ${app.config.nodeEnv === 'development' ? 'local development' : app.config.nodeEnv})`,
          'x-internal': false,
        } as { url: string; description: string },
      ],
      tags: [
        { name: 'auth', description: 'Registration, login, token refresh and logout' },
        { name: 'users', description: 'Accounts; listing and changing other users is for admins' },
        { name: 'tasks', description: "Tasks: each user's own; admins see all" },
        {
          name: 'labels',
          description: "The caller's own task labels (admins too see only theirs): list, rename or merge, delete",
        },
        {
          name: 'webhooks',
          description:
            "The caller's webhooks: signed deliveries (Standard Webhooks) of the events about what the caller can see; another user's webhook is a 404",
        },
        {
          name: 'stream',
          description:
            'Live updates (Server-Sent Events): the same events, about what the caller can see, as they happen; tickets for EventSource',
        },
        {
          name: 'projects',
          description:
            'Projects and their members (owner, editors, viewers): a project the caller is not in is a 404; admins see and change all',
        },
        {
          name: 'tokens',
          description: "The caller's personal access tokens, for scripts and integrations: create, list, delete (logins only)",
        },
        { name: 'admin', description: 'Admins only: user management and statistics' },
        { name: 'ops', description: 'Liveness, readiness and metrics, for load balancers and monitoring' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: JWT_DESCRIPTION },
          [TOKEN_SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: TOKEN_DESCRIPTION },
          OAuth2PasswordBearer: {
            type: 'oauth2',
            description: JWT_DESCRIPTION,
            flows: { password: { tokenUrl: '/api/v1/auth/login', scopes: {} } },
          },
        },
      },
    },
    transformObject: (documentObject) =>
      'openapiObject' in documentObject
        ? addExamples(nameComponents(completeDocument(documentObject.openapiObject)))
        : documentObject.swaggerObject,
    // Shared schemas keep their $id as their component name (#/components/schemas/Problem).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: false } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(docs, { name: 'docs' });
