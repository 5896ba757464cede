import { describe, expect, it } from 'vitest';
import { TOKEN_SCOPES, type TokenScope } from '../../src/db/enums.js';
import { describeOp, isAdminRoute, type Operation, openApiDocument } from '../helpers/openapi.js';
import { createAccessToken, expectProblem, send, useWorldAndOperations, validRequest } from '../helpers/security.js';

/**
 * Personal access tokens against every route of /openapi.json: a token with each scope is tried on
 * every secured route, and gets through exactly where the route's declared scope allows (a `:write`
 * covers its `:read`); everywhere else it is a 403 with an RFC 6750 insufficient_scope challenge.
 * A new secured route must either declare a scope or be listed here as login-only: undecided, it fails.
 */
const suite = useWorldAndOperations();

/** Account management: a login's alone, whatever a token's scopes. */
const LOGIN_ONLY = [
  'PATCH /api/v1/users/me',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/verify-email/resend',
  'POST /api/v1/users/me/tokens',
  'GET /api/v1/users/me/tokens',
  'DELETE /api/v1/users/me/tokens/{id}',
  'POST /api/v1/auth/logout-all',
  'GET /api/v1/users/me/sessions',
  'DELETE /api/v1/users/me/sessions',
  'DELETE /api/v1/users/me/sessions/{id}',
  // A webhook keeps receiving whatever its owner can see: it is made and managed with a login, not a token.
  'POST /api/v1/webhooks',
  'GET /api/v1/webhooks',
  'GET /api/v1/webhooks/{id}',
  'PATCH /api/v1/webhooks/{id}',
  'DELETE /api/v1/webhooks/{id}',
  'POST /api/v1/webhooks/{id}/test',
  'GET /api/v1/webhooks/{id}/deliveries',
  // The stream, like webhooks, pushes whatever its owner can see: a login's, or its ticket's.
  'GET /api/v1/stream',
  'POST /api/v1/stream/tickets',
];

/** What the issue asks, written out here rather than taken from the code under test. */
const allows = (granted: TokenScope, needed: TokenScope) =>
  granted === needed || (needed.endsWith(':read') && granted === needed.replace(/:read$/, ':write'));

async function documentedScopes(): Promise<Map<string, TokenScope | undefined>> {
  const doc = await openApiDocument(suite.world.baseUrl);
  const out = new Map<string, TokenScope | undefined>();
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const requirements = (op.security ?? []) as Array<Record<string, string[]>>;
      const scopes = requirements.filter((r) => 'personalAccessToken' in r).flatMap((r) => r.personalAccessToken ?? []);
      out.set(`${method.toUpperCase()} ${path}`, scopes[0] as TokenScope | undefined);
    }
  }
  return out;
}

describe('the document decides a scope for every secured operation', () => {
  it('each declares one known scope, or is login-only; admin routes need `admin`', async () => {
    const scopes = await documentedScopes();
    const doc = await openApiDocument(suite.world.baseUrl);
    const undecided: string[] = [];
    for (const op of suite.ops.filter((o) => o.secured)) {
      const name = describeOp(op);
      const requirement = doc.paths[op.path][op.method.toLowerCase()].security.filter(
        (r: Record<string, string[]>) => 'personalAccessToken' in r,
      );
      if (LOGIN_ONLY.includes(name)) {
        expect(requirement, name).toEqual([]);
        continue;
      }
      if (requirement.length !== 1 || requirement[0].personalAccessToken.length !== 1) undecided.push(name);
      expect(TOKEN_SCOPES, name).toContain(scopes.get(name));
      if (isAdminRoute(op)) expect(scopes.get(name), name).toBe('admin');
    }
    expect(undecided).toEqual([]);
    // Not vacuous: every scope is some route's.
    expect(new Set(scopes.values())).toEqual(new Set([...TOKEN_SCOPES, undefined]));
  });

  it('every requirement names a declared scheme and only scopes that scheme grants (Spectral cannot check http schemes)', async () => {
    const doc = await openApiDocument(suite.world.baseUrl);
    const schemes = doc.components.securitySchemes as Record<string, any>;
    const granted = (name: string): string[] | undefined => {
      const scheme = schemes[name];
      if (!scheme) return undefined;
      if (name === 'personalAccessToken') return [...TOKEN_SCOPES];
      if (scheme.type === 'oauth2') return Object.values<any>(scheme.flows).flatMap((flow) => Object.keys(flow.scopes ?? {}));
      return [];
    };
    const wrong: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        for (const requirement of op.security ?? []) {
          for (const [name, scopes] of Object.entries<string[]>(requirement)) {
            const allowed = granted(name);
            if (!allowed || scopes.some((s) => !allowed.includes(s))) wrong.push(`${method} ${path}: ${name} ${scopes}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every secured operation documents the 403 and its WWW-Authenticate challenge', async () => {
    const doc = await openApiDocument(suite.world.baseUrl);
    for (const op of suite.ops.filter((o) => o.secured)) {
      const forbidden = doc.paths[op.path][op.method.toLowerCase()].responses['403'];
      expect(forbidden?.headers?.['WWW-Authenticate'], describeOp(op)).toBeDefined();
    }
  });
});

describe('a token with each scope on every secured route', () => {
  it('gets through exactly where its scope allows; elsewhere 403 insufficient_scope', async () => {
    const { world } = suite;
    const scopes = await documentedScopes();
    // The user's tokens (every scope a user may have), and the admin's (every scope).
    const userTokens = new Map<TokenScope, string>();
    const adminTokens = new Map<TokenScope, string>();
    for (const scope of TOKEN_SCOPES) {
      if (scope !== 'admin') userTokens.set(scope, (await createAccessToken(world.api, world.alice.token, [scope])).token);
      adminTokens.set(scope, (await createAccessToken(world.api, world.admin.token, [scope])).token);
    }
    const failures: string[] = [];
    const attempts = { allowed: 0, refused: 0 };
    for (const op of suite.ops.filter((o: Operation) => o.secured)) {
      const needed = scopes.get(describeOp(op));
      for (const scope of TOKEN_SCOPES) {
        const tokens = isAdminRoute(op) || scope === 'admin' ? adminTokens : userTokens;
        const token = tokens.get(scope) as string;
        const req = await validRequest(world, op);
        const res = await send(world, op, req, { token });
        const where = `${describeOp(op)} with ${scope}: ${res.status} ${res.text.slice(0, 200)}`;
        if (needed && allows(scope, needed)) {
          attempts.allowed++;
          if (res.status >= 300) failures.push(`refused: ${where}`);
        } else {
          attempts.refused++;
          const challenge = `Bearer error="insufficient_scope"${needed ? `, scope="${needed}"` : ''}`;
          if (res.status !== 403 || res.headers.get('www-authenticate') !== challenge) failures.push(`not refused: ${where}`);
          else expectProblem(res, 403);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(attempts.allowed).toBeGreaterThan(20);
    expect(attempts.refused).toBeGreaterThan(100);
  });
});
