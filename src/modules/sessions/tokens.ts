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
  /** Clock difference tolerated on iat, exp and nbf, and on top of the lifetime. */
  clockSkewSeconds: number;
}

// RFC 9068 media type: a JWT of another kind signed with the same key is still refused.
const ACCESS_TYPE = 'at+jwt';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const USER_ID = /^[1-9]\d{0,15}$/;
// RFC 7519 §2: a NumericDate is a number of seconds; JSON's 1e400 parses as Infinity, which no clock reaches.
const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

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
  const skewSeconds = options.clockSkewSeconds;
  const longestLife = expiresInSeconds + skewSeconds;
  // fast-jwt checks the types of the claims it is given rules for (sub, jti, iss, aud as strings; iat,
  // exp, nbf as numbers), exp and nbf within the tolerance, and (maxAge) that iat is not older than the
  // longest life we issue. maxAge ignores clockTolerance, hence the skew added to it.
  const verifier = createVerifier({
    key: options.secret,
    algorithms: ['HS256'],
    allowedIss: options.issuer,
    allowedAud: options.audience,
    allowedSub: USER_ID,
    allowedJti: UUID,
    requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud'],
    checkTyp: ACCESS_TYPE,
    clockTolerance: skewSeconds * 1000,
    maxAge: longestLife * 1000,
    cache: 1000,
  });
  /** What fast-jwt leaves to us: finite dates, an iat not in the future, a lifetime we could have issued, sid. */
  const issuable = (claims: Record<string, unknown>): boolean => {
    const { iat, exp, nbf, sid } = claims;
    if (!isNumericDate(iat) || !isNumericDate(exp)) return false;
    if (nbf !== undefined && !isNumericDate(nbf)) return false;
    if (iat > Date.now() / 1000 + skewSeconds) return false;
    if (exp <= iat || exp - iat > longestLife) return false;
    return typeof sid === 'string' && UUID.test(sid);
  };

  return {
    expiresInSeconds,
    sign(userId: number, sessionId: string): string {
      return signer({ sub: String(userId), sid: sessionId, jti: randomUUID() });
    },
    /** The claims of a valid token, or undefined for anything else (no reason leaks to the caller). */
    verify(token: string): AccessClaims | undefined {
      try {
        const claims = verifier(token) as AccessClaims;
        // Claims of the wrong type (a numeric sub, a string iat) are refused, not coerced: only tokens as issued pass.
        return issuable(claims as unknown as Record<string, unknown>) ? claims : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

/** Refresh tokens are opaque: 256 random bits, stored only as a SHA-256 digest. */
export const newRefreshToken = () => randomBytes(32).toString('base64url');
