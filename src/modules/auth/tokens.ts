import { randomBytes, randomUUID } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export interface TokenOptions {
  secret: string;
  issuer: string;
  audience: string;
  accessTtlMinutes: number;
}

// RFC 9068 media type: a JWT of another kind signed with the same key is still refused.
const ACCESS_TYPE = 'at+jwt';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Access tokens: HS256 JWTs, algorithm pinned on both sides. A token says who (`sub`) and which
 * login (`sid`); whether that login is still valid is decided by the database on every request
 * (directly, or through the cache it invalidates: see session-cache.ts).
 */
export function createAccessTokens(options: TokenOptions) {
  const expiresInSeconds = options.accessTtlMinutes * 60;
  const signer = createSigner({
    key: options.secret,
    algorithm: 'HS256',
    expiresIn: expiresInSeconds * 1000,
    iss: options.issuer,
    aud: options.audience,
    header: { alg: 'HS256', typ: ACCESS_TYPE },
  });
  const verifier = createVerifier({
    key: options.secret,
    algorithms: ['HS256'],
    allowedIss: options.issuer,
    allowedAud: options.audience,
    requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud'],
    checkTyp: ACCESS_TYPE,
    cache: 1000,
  });

  return {
    expiresInSeconds,
    sign(userId: number, sessionId: string): string {
      return signer({ sub: String(userId), sid: sessionId, jti: randomUUID() });
    },
    /** The claims of a valid token, or undefined for anything else (no reason leaks to the caller). */
    verify(token: string): AccessClaims | undefined {
      try {
        const claims = verifier(token) as AccessClaims;
        // Claims of the wrong type (a numeric sub) are refused, not coerced: only tokens as issued pass.
        if (typeof claims.sid !== 'string' || !UUID.test(claims.sid)) return undefined;
        if (typeof claims.sub !== 'string' || !/^[1-9]\d{0,15}$/.test(claims.sub)) return undefined;
        return claims;
      } catch {
        return undefined;
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

/** Refresh tokens are opaque: 256 random bits, stored only as a SHA-256 digest. */
export const newRefreshToken = () => randomBytes(32).toString('base64url');
