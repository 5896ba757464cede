import { createHmac, generateKeyPairSync, randomUUID, sign as signAsym } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin } from '../helpers/app.js';
import { expectProblem, setupWorld, type World } from '../helpers/security.js';

// RFC 8725 and the OWASP JWT cheat sheet: every way an access token can be forged, altered,
// used past its life, used as the wrong kind of token, or replayed after its login ended.
let world: World;
beforeAll(async () => {
  world = await setupWorld();
});
afterAll(() => world.close());

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A JWT built by hand, so every header and claim is under the test's control. */
function jwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer = world.config.jwtSecret) {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = String(header.alg);
  let signature = '';
  if (/^HS(256|384|512)$/.test(alg))
    signature = createHmac(`sha${alg.slice(2)}`, key)
      .update(input)
      .digest('base64url');
  return `${input}.${signature}`;
}

const HEADER = { alg: 'HS256', typ: 'at+jwt' };
/** Claims as the server issues them, for the given account's current login. */
function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
}

async function expectRefused(token: string, why: string) {
  const res = await world.api.get('/users/me', { token });
  expect(res.status, why).toBe(401);
  expect(res.headers.get('www-authenticate'), why).toBe('Bearer');
  expectProblem(res, 401);
  // The answer says nothing about why (no "expired", "signature", "algorithm").
  expect(res.body.detail, why).toBe('Could not validate credentials');
}

describe('a correctly built token is accepted (so each refusal below is about its one defect)', () => {
  it('hand-signed with the server key and the issued claims', async () => {
    const u = await registerAndLogin(world.api);
    const res = await world.api.get('/users/me', { token: jwt(HEADER, claimsOf(u.token)) });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(u.id);
  });
});

describe('forged or altered tokens', () => {
  it('alg none, other HMAC algorithms, another key, an empty key, a truncated or missing signature', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    await expectRefused(jwt({ alg: 'none', typ: 'at+jwt' }, claims), 'alg none');
    await expectRefused(jwt({ alg: 'None', typ: 'at+jwt' }, claims), 'alg None');
    await expectRefused(`${jwt({ alg: 'none', typ: 'at+jwt' }, claims)}${u.token.split('.')[2]}`, 'alg none + signature');
    await expectRefused(jwt({ alg: 'HS384', typ: 'at+jwt' }, claims), 'HS384 with the server key');
    await expectRefused(jwt({ alg: 'HS512', typ: 'at+jwt' }, claims), 'HS512 with the server key');
    await expectRefused(jwt(HEADER, claims, 'another-secret-of-32-bytes-or-more!!'), 'HS256 with another key');
    await expectRefused(jwt(HEADER, claims, ''), 'HS256 with an empty key');
    await expectRefused(u.token.slice(0, -4), 'truncated signature');
    await expectRefused(`${u.token.split('.').slice(0, 2).join('.')}.`, 'no signature');
  });

  it('RS256 and ES256 tokens (algorithm confusion), including one "signed" with the HMAC secret as a public key', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const asym = (alg: string, key: typeof rsa.privateKey, dsa?: 'ieee-p1363') => {
      const input = `${b64({ alg, typ: 'at+jwt' })}.${b64(claims)}`;
      const sig = signAsym('sha256', Buffer.from(input), dsa ? { key, dsaEncoding: dsa } : key);
      return `${input}.${sig.toString('base64url')}`;
    };
    await expectRefused(asym('RS256', rsa.privateKey), 'RS256');
    await expectRefused(asym('PS256', rsa.privateKey), 'PS256');
    await expectRefused(asym('ES256', ec.privateKey, 'ieee-p1363'), 'ES256');
    // The classic confusion: an RS256 header, but an HMAC over the (public) key material the server holds.
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(claims)}`;
    await expectRefused(
      `${input}.${createHmac('sha256', world.config.jwtSecret).update(input).digest('base64url')}`,
      'RS256 header, HMAC',
    );
  });

  it('kid, jku, x5u and jwk headers are never followed: an attacker-signed token naming its own key is refused, and no URL is fetched', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    let fetched = 0;
    const keyServer = createServer((_req, res) => {
      fetched += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ kty: 'oct', k: b64('attacker-key'), alg: 'HS256' }] }));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/jwks.json`;
    try {
      const attacker = 'attacker-key';
      await expectRefused(jwt({ ...HEADER, jku: url }, claims, attacker), 'jku');
      await expectRefused(jwt({ ...HEADER, x5u: url }, claims, attacker), 'x5u');
      await expectRefused(jwt({ ...HEADER, jwk: { kty: 'oct', k: b64(attacker) } }, claims, attacker), 'jwk');
      for (const kid of ['../../../../dev/null', "' UNION SELECT 'attacker-key' --", 'attacker', '0']) {
        await expectRefused(jwt({ ...HEADER, kid }, claims, attacker), `kid ${kid}`);
        await expectRefused(jwt({ ...HEADER, kid }, claims, ''), `kid ${kid}, empty key`);
      }
      expect(fetched).toBe(0);
    } finally {
      await new Promise((resolve) => keyServer.close(resolve));
    }
  });

  it('an altered payload under the original signature, for any claim', async () => {
    const u = await registerAndLogin(world.api);
    const [header, , signature] = u.token.split('.') as [string, string, string];
    const claims = claimsOf(u.token);
    const other = await registerAndLogin(world.api);
    for (const change of [
      { sub: String(other.id) },
      { sid: claimsOf(other.token).sid },
      { exp: now() + 86_400 },
      { role: 'admin' },
      { aud: 'task-api', iss: 'task-api', extra: 1 },
    ]) {
      await expectRefused(`${header}.${b64({ ...claims, ...change })}.${signature}`, JSON.stringify(change));
    }
    // A changed header (typ) under the original signature, too.
    await expectRefused(`${b64({ alg: 'HS256', typ: 'JWT' })}.${u.token.split('.')[1]}.${signature}`, 'header altered');
  });

  it('a validly signed token pairing one user with another user’s login (sub and sid must match)', async () => {
    const a = await registerAndLogin(world.api);
    const b = await registerAndLogin(world.api);
    await expectRefused(jwt(HEADER, { ...claimsOf(a.token), sub: String(b.id) }), 'sub of b, sid of a');
  });
});

describe('claims', () => {
  it('wrong iss or aud, expired, or not yet valid (nbf)', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    await expectRefused(jwt(HEADER, { ...claims, iss: 'someone-else' }), 'iss');
    await expectRefused(jwt(HEADER, { ...claims, aud: 'another-api' }), 'aud');
    await expectRefused(jwt(HEADER, { ...claims, aud: ['another-api'] }), 'aud array without ours');
    await expectRefused(jwt(HEADER, { ...claims, iat: now() - 7200, exp: now() - 3600 }), 'expired an hour ago');
    // JWT_CLOCK_SKEW_SECONDS (60) is tolerated on exp: a second past it is refused.
    const skew = world.config.jwtClockSkewSeconds;
    const life = world.config.accessTokenExpireMinutes * 60;
    await expectRefused(
      jwt(HEADER, { ...claims, iat: now() - skew - 1 - life, exp: now() - skew - 1 }),
      'expired a second longer ago than the skew',
    );
    await expectRefused(jwt(HEADER, { ...claims, nbf: now() + 3600 }), 'nbf in the future');
    await expectRefused(jwt(HEADER, { ...claims, exp: 'never' }), 'exp not a number');
  });

  it('each required claim missing, or of the wrong shape', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    for (const name of ['sub', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud']) {
      const { [name]: _, ...without } = claims;
      await expectRefused(jwt(HEADER, without), `without ${name}`);
    }
    await expectRefused(jwt(HEADER, { ...claims, sub: 'admin' }), 'sub not an id');
    await expectRefused(jwt(HEADER, { ...claims, sub: Number(claims.sub) }), 'sub a number');
    await expectRefused(jwt(HEADER, { ...claims, sid: "' OR 1=1 --" }), 'sid not a UUID');
    await expectRefused(jwt(HEADER, { ...claims, sid: randomUUID() }), 'sid of no login');
  });

  it('claims the server could never have issued: dates that are not finite numbers, a jti that is not a UUID string, an iat in the future, a lifetime too long', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    const skew = world.config.jwtClockSkewSeconds;
    const life = world.config.accessTokenExpireMinutes * 60;
    // A raw payload, for values JSON.stringify cannot write (1e400 parses as Infinity).
    const raw = (payload: string) => {
      const input = `${b64(HEADER)}.${b64(payload)}`;
      return `${input}.${createHmac('sha256', world.config.jwtSecret).update(input).digest('base64url')}`;
    };
    for (const iat of ['yesterday', null, {}, true, [now()], String(now())]) {
      await expectRefused(jwt(HEADER, { ...claims, iat }), `iat ${JSON.stringify(iat)}`);
    }
    for (const jti of [12345, null, {}, [randomUUID()], 'not-a-uuid']) {
      await expectRefused(jwt(HEADER, { ...claims, jti }), `jti ${JSON.stringify(jti)}`);
    }
    await expectRefused(jwt(HEADER, { ...claims, sid: 7 }), 'sid a number');
    await expectRefused(jwt(HEADER, { ...claims, nbf: 'now' }), 'nbf not a number');
    const t = now();
    await expectRefused(jwt(HEADER, { ...claims, iat: t + 3600, exp: t + 3600 + life }), 'iat an hour ahead');
    await expectRefused(jwt(HEADER, { ...claims, iat: t + 365 * 86_400, exp: t + 365 * 86_400 + life }), 'iat a year ahead');
    await expectRefused(jwt(HEADER, { ...claims, iat: t, exp: t + 10 * 365 * 86_400 }), 'a ten-year lifetime');
    await expectRefused(jwt(HEADER, { ...claims, iat: t, exp: t + life + skew + 1 }), 'a lifetime just over the longest');
    await expectRefused(jwt(HEADER, { ...claims, exp: 4e12 }), 'exp 4e12');
    await expectRefused(jwt(HEADER, { ...claims, iat: t - 2 * life, exp: t + 60 }), 'issued too long ago');
    await expectRefused(jwt(HEADER, { ...claims, exp: Number(claims.iat) }), 'exp equal to iat');
    const { exp: _, ...rest } = claims;
    await expectRefused(raw(`${JSON.stringify(rest).slice(0, -1)},"exp":1e400}`), 'exp 1e400 (Infinity)');
    await expectRefused(raw(`${JSON.stringify({ ...claims, iat: undefined }).slice(0, -1)},"iat":-1e400}`), 'iat -1e400');
  });

  it('within the clock skew, a token from a clock slightly ahead, and one living exactly the longest allowed, are accepted', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    const skew = world.config.jwtClockSkewSeconds;
    const life = world.config.accessTokenExpireMinutes * 60;
    expect(skew).toBe(60); // the documented default
    const t = now();
    for (const [iat, exp, why] of [
      [t + skew - 5, t + skew - 5 + life, 'iat just inside the skew'],
      [t, t + life + skew, 'the longest lifetime'],
      [t - life - 5, t - 5, 'expired a moment ago, within the skew'],
    ] as const) {
      const res = await world.api.get('/users/me', { token: jwt(HEADER, { ...claims, iat, exp }) });
      expect(res.status, why).toBe(200);
    }
  });

  it('typ must be at+jwt (RFC 9068): JWT, absent or another type is refused', async () => {
    const u = await registerAndLogin(world.api);
    const claims = claimsOf(u.token);
    await expectRefused(jwt({ alg: 'HS256' }, claims), 'no typ');
    await expectRefused(jwt({ alg: 'HS256', typ: 'JWT' }, claims), 'typ JWT');
    await expectRefused(jwt({ alg: 'HS256', typ: 'refresh+jwt' }, claims), 'typ refresh+jwt');
  });
});

describe('the wrong kind of token', () => {
  it('a refresh token as an access token, and an access token as a refresh token', async () => {
    const u = await registerAndLogin(world.api);
    const asAccess = await world.api.get('/users/me', { token: u.refreshToken });
    expectProblem(asAccess, 401);
    const asRefresh = await world.api.post('/auth/refresh', { refresh_token: u.token });
    expect([401, 422]).toContain(asRefresh.status);
    expectProblem(asRefresh);
    expect(asRefresh.text).not.toContain('access_token');
    // Neither misuse spent anything: both still work as what they are.
    expect((await world.api.get('/users/me', { token: u.token })).status).toBe(200);
    expect((await world.api.post('/auth/refresh', { refresh_token: u.refreshToken })).status).toBe(200);
  });

  it('an access token is accepted only as a Bearer Authorization header: not in a query string, a cookie or another scheme', async () => {
    const u = await registerAndLogin(world.api);
    expectProblem(await world.api.get(`/users/me?access_token=${u.token}`), 401);
    expectProblem(await world.api.get('/users/me', { headers: { cookie: `access_token=${u.token}` } }), 401);
    expectProblem(await world.api.get('/users/me', { headers: { authorization: `Token ${u.token}` } }), 401);
  });
});

describe('Authorization is a singleton (RFC 9110 §5.3)', () => {
  /** A request with exactly these header lines (node:http sends an array value as repeated lines). */
  function send(path: string, authorizations: string[]): Promise<{ status: number; type: string; body: string; id: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${world.baseUrl}${path}`, { method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body,
            id: String(res.headers['x-request-id']),
          }),
        );
      });
      req.on('error', reject);
      req.setHeader('Authorization', authorizations);
      req.end();
    });
  }

  it('two Authorization headers are a 400 problem on every route, whichever of them is valid, and never a user', async () => {
    const a = await registerAndLogin(world.api);
    const b = await registerAndLogin(world.api);
    const cases: Array<[string, string[]]> = [
      ['/api/v1/users/me', [`Bearer ${a.token}`, `Bearer ${b.token}`]],
      ['/api/v1/users/me', [`Bearer ${a.token}`, 'Bearer junk']],
      ['/api/v1/users/me', ['Bearer junk', `Bearer ${a.token}`]],
      ['/api/v1/users/me', [`Bearer ${a.token}`, `Bearer ${a.token}`]],
      ['/api/v1/tasks', [`Bearer ${a.token}`, `Bearer ${b.token}`, `Bearer ${a.token}`]],
      ['/healthz', [`Bearer ${a.token}`, `Bearer ${b.token}`]],
      ['/api/v1/no-such-route', [`Bearer ${a.token}`, `Bearer ${b.token}`]],
    ];
    for (const [path, headers] of cases) {
      const res = await send(path, headers);
      expect(res.status, `${path} with ${headers.length} headers`).toBe(400);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body)).toMatchObject({ status: 400, detail: 'Only one Authorization header is allowed' });
      expect(res.body).not.toContain(a.username);
      expect(res.id).not.toBe('undefined');
    }
    // One header is still fine (the helper itself is not the cause of the 400s above).
    const one = await send('/api/v1/users/me', [`Bearer ${a.token}`]);
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body).id).toBe(a.id);
  });
});

describe('tokens of ended logins and gone users', () => {
  it('after logout: the access token and the refresh token are refused', async () => {
    const u = await registerAndLogin(world.api);
    expect((await world.api.post('/auth/logout', undefined, { token: u.token })).status).toBe(204);
    await expectRefused(u.token, 'access token after logout');
    // A copy re-signed with the server key is still refused: the login itself is revoked, not the string.
    await expectRefused(jwt(HEADER, { ...claimsOf(u.token), jti: randomUUID() }), 'new jti, same login');
    expectProblem(await world.api.post('/auth/refresh', { refresh_token: u.refreshToken }), 401);
  });

  it('reusing a spent refresh token revokes the whole login: both new tokens stop working', async () => {
    const u = await registerAndLogin(world.api);
    const rotated = await world.api.post('/auth/refresh', { refresh_token: u.refreshToken });
    expect(rotated.status).toBe(200);
    expectProblem(await world.api.post('/auth/refresh', { refresh_token: u.refreshToken }), 401);
    await expectRefused(rotated.body.access_token, 'access token of the revoked login');
    expectProblem(await world.api.post('/auth/refresh', { refresh_token: rotated.body.refresh_token }), 401);
  });

  it('a deactivated user’s and a deleted user’s tokens, access and refresh', async () => {
    const inactive = await registerAndLogin(world.api);
    await world.db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [inactive.id]);
    await expectRefused(inactive.token, 'deactivated');
    expectProblem(await world.api.post('/auth/refresh', { refresh_token: inactive.refreshToken }), 401);
    const gone = await registerAndLogin(world.api);
    await world.db.pool.query('DELETE FROM users WHERE id = $1', [gone.id]);
    await expectRefused(gone.token, 'deleted');
    expectProblem(await world.api.post('/auth/refresh', { refresh_token: gone.refreshToken }), 401);
  });

  it('issued tokens: HS256, typ at+jwt, a unique jti, a life of ACCESS_TOKEN_EXPIRE_MINUTES and no role or personal data', async () => {
    const u = await registerAndLogin(world.api);
    const again = await world.api.post('/auth/login', { username: u.username, password: u.password });
    const header = JSON.parse(Buffer.from(u.token.split('.')[0] as string, 'base64url').toString());
    expect(header).toEqual({ alg: 'HS256', typ: 'at+jwt' });
    const claims = claimsOf(u.token);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(world.config.accessTokenExpireMinutes * 60);
    expect(claimsOf(again.body.access_token).jti).not.toBe(claims.jti);
    expect(claimsOf(again.body.access_token).sid).not.toBe(claims.sid);
    expect(u.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await world.db.pool.query('SELECT * FROM refresh_tokens');
    expect(JSON.stringify(stored.rows)).not.toContain(u.refreshToken);
  });
});
