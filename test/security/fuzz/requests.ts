import fc from 'fast-check';
import type { Operation } from './openapi.js';
import { anyJson, oddString, pct, shapedObject, type Value, validValue } from './values.js';

export type Actor = 'user' | 'admin' | 'anonymous';

/**
 * A path id: the id of one of the caller's own rows or of someone else's (a task or a user, as the
 * path says; resolved at send time, as rows come and go), or literal text.
 */
export type PathId = { kind: 'own' | 'other'; pick: number } | { kind: 'literal'; text: string };

export type Body =
  | { kind: 'json'; value: Value }
  | { kind: 'form'; value: Value }
  | { kind: 'raw'; text: string }
  | { kind: 'none' };

export interface FuzzRequest {
  actor: Actor;
  operation: Operation;
  pathIds: Record<string, PathId>;
  query: string;
  headers: [string, string][];
  /** Replaces the caller's Authorization header (a mangled or foreign credential). */
  authorization?: string;
  contentType?: string;
  body: Body;
}

/** Characters Node lets a header value carry: tab, visible ASCII, space and Latin-1. */
const headerChar = fc.oneof(
  fc.constant('\t'),
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)),
);
const headerValue = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 60 }),
  fc.constantFrom('', ' ', 'x'.repeat(300), 'x'.repeat(8000), '\u00ff\u00fe'),
);

const pathLiteral = fc.oneof(
  fc.constantFrom(
    '0',
    '-1',
    '00',
    '01',
    '+1',
    '1.0',
    '1.5',
    '1e3',
    '0x1f',
    '0b1',
    '%201',
    '1%20',
    '2147483648',
    '9007199254740993',
    '9223372036854775807',
    '9223372036854775808',
    '99999999999999999999999999',
    'abc',
    'null',
    'NaN',
    'Infinity',
    '-0',
    '%00',
    '1%00',
    '%2F',
    '%2e%2e',
    '..',
    '.',
    '%E2%80%8B1',
    '%D9%A1',
    '%F0%9F%98%80',
    '%ZZ',
    '%',
    '\u00e9',
    '1;2',
    '1,2',
    'x'.repeat(250),
    '1'.repeat(250),
  ),
  fc.integer().map(String),
  fc.nat({ max: 200 }).map(String),
  oddString.map(pct),
);

const pathId: fc.Arbitrary<PathId> = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((pick) => ({ kind: 'own' as const, pick })) },
  { weight: 3, arbitrary: fc.nat().map((pick) => ({ kind: 'other' as const, pick })) },
  { weight: 2, arbitrary: pathLiteral.map((text) => ({ kind: 'literal' as const, text })) },
);

const unknownParam = fc.oneof(
  fc.constantFrom('user_id', 'role', 'page', 'per_page', 'fields', 'include', '__proto__', 'constructor', 'a[b]', 'sort[]', ''),
  fc.string({ maxLength: 8 }),
);

function queryOf(operation: Operation): fc.Arbitrary<string> {
  const known = operation.parameters.filter((p) => p.in === 'query');
  const pair = fc.oneof(
    ...known.map((p) =>
      fc
        .oneof({ weight: 3, arbitrary: validValue(p.name, p.schema) }, { weight: 2, arbitrary: oddString })
        .map((v) => `${pct(p.name)}=${pct(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))}`),
    ),
    fc.tuple(unknownParam, oddString).map(([k, v]) => `${pct(k)}=${pct(v)}`),
    fc.constantFrom(
      'limit',
      'q=',
      '=1',
      '%ZZ=1',
      'q=%ZZ',
      'q=%00',
      'limit=1&limit=2',
      'status=pending&status=completed',
      '&&',
      'q=a+b',
      'limit=%31',
    ),
  );
  const valid = known.map((p) =>
    fc.option(
      validValue(p.name, p.schema).map((v) => `${pct(p.name)}=${pct(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))}`),
      { nil: undefined, freq: 2 },
    ),
  );
  return fc.oneof(
    // Most requests carry no query or a valid one, to reach the route's logic; the rest fuzz it.
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: known.length ? 2 : 0,
      arbitrary: fc.tuple(...valid).map((pairs) => {
        const present = pairs.filter((p) => p !== undefined);
        return present.length ? `?${present.join('&')}` : '';
      }),
    },
    { weight: 3, arbitrary: fc.array(pair, { minLength: 1, maxLength: 5 }).map((pairs) => `?${pairs.join('&')}`) },
  );
}

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'application/json;',
      'application/json, text/plain',
      'application/merge-patch+json',
      'application/problem+json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain',
      'text/html',
      'application/xml',
      '*/*',
      'a/b/c',
      ';',
      '',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

const rawBody = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '}',
    '{"a":',
    '[',
    'null',
    'true',
    '"x"',
    '1',
    '{"title":"x",}',
    "{'title':'x'}",
    '\u0000',
    '\ufeff{}',
    '{"title":"x"}{"title":"y"}',
  ),
  fc.constantFrom(65_535, 65_537, 200_000).map((n) => `{"title":"${'x'.repeat(n)}"}`),
  fc.string({ unit: 'binary', maxLength: 100 }),
);

function bodyOf(operation: Operation): fc.Arbitrary<{ body: Body; contentType?: string }> {
  const schemas = operation.body ?? {};
  const jsonSchema = schemas['application/json'];
  const options: fc.Arbitrary<{ body: Body; contentType?: string }>[] = [];
  const withType = (body: fc.Arbitrary<Body>, weight: number) =>
    options.push(
      ...Array.from({ length: weight }, () =>
        fc.record({ body, contentType: fc.option(contentType, { nil: undefined, freq: 10 }) }),
      ),
    );
  if (jsonSchema)
    withType(
      shapedObject(jsonSchema).map((value) => ({ kind: 'json' as const, value })),
      4,
    );
  if (schemas['application/x-www-form-urlencoded']) {
    const form = schemas['application/x-www-form-urlencoded'];
    options.push(
      shapedObject(form).map((value) => ({
        body: { kind: 'form' as const, value },
        contentType: 'application/x-www-form-urlencoded',
      })),
    );
  }
  withType(
    anyJson.map((value) => ({ kind: 'json' as const, value })),
    1,
  );
  withType(
    rawBody.map((text) => ({ kind: 'raw' as const, text })),
    1,
  );
  // Operations without a body also get one sometimes, and those with one sometimes go without.
  options.push(...Array.from({ length: operation.body ? 1 : 6 }, () => fc.constant({ body: { kind: 'none' as const } })));
  return fc.oneof(...options);
}

const headerNames = [
  'if-match',
  'if-none-match',
  'idempotency-key',
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'accept',
  'accept-encoding',
  'origin',
  'x-http-method-override',
  'range',
  'x-unknown',
];
const header = fc.oneof(
  fc.tuple(fc.constantFrom(...headerNames), headerValue),
  fc.tuple(
    fc.constantFrom('if-match', 'if-none-match'),
    fc.constantFrom('*', '"x"', 'W/"x"', '"1"', 'W/*', '"', '""', ',', '"a", "b"'),
  ),
  fc.tuple(
    fc.constant('x-forwarded-for'),
    fc.constantFrom('127.0.0.1', '10.0.0.1, 1.2.3.4', '::1', 'unknown', '999.1.1.1', '1.2.3.4'.repeat(50)),
  ),
  fc.tuple(fc.constant('idempotency-key'), fc.constantFrom('k', 'key-1', 'x'.repeat(255), 'x'.repeat(256), 'a b', 'é')),
);

const mangledAuthorization = fc.constantFrom(
  'Bearer',
  'Bearer ',
  'Bearer a.b.c',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.',
  'Basic dXNlcjpwYXNz',
  'Token x',
  'bearer',
  `Bearer ${'a'.repeat(5000)}.b.c`,
  // Personal access tokens that cannot be live: unknown, too short, too long, bad characters.
  'Bearer tap_',
  `Bearer tap_${'A'.repeat(43)}`,
  `Bearer tap_${'A'.repeat(42)}`,
  `Bearer tap_${'A'.repeat(5000)}`,
  `Bearer tap_${'A'.repeat(42)}=`,
  'Bearer TAP_AAAA',
);

const actor: fc.Arbitrary<Actor> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('user' as const) },
  { weight: 2, arbitrary: fc.constant('admin' as const) },
  { weight: 2, arbitrary: fc.constant('anonymous' as const) },
);

export function requestFor(operation: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParams = operation.parameters.filter((p) => p.in === 'path').map((p) => p.name);
  const pathIds = fc
    .tuple(...pathParams.map(() => pathId))
    .map((ids) => Object.fromEntries(pathParams.map((name, i) => [name, ids[i] as PathId])));
  return fc
    .tuple(
      actor,
      pathIds,
      queryOf(operation),
      fc.oneof(fc.constant([] as [string, string][]), fc.array(header, { minLength: 1, maxLength: 4 })),
      fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: mangledAuthorization }),
      bodyOf(operation),
    )
    .map(([actor, pathIds, query, headers, authorization, { body, contentType }]) => ({
      actor,
      operation,
      pathIds,
      query,
      headers,
      authorization,
      body,
      contentType,
    }));
}
