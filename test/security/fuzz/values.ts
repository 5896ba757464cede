import fc from 'fast-check';
import type { JsonSchema } from './openapi.js';

/**
 * JSON the fuzzer sends is built as a tree and written by hand, so it can hold what JSON.stringify
 * cannot produce: numbers out of double range (1e309), -0, duplicate or __proto__ keys, nesting
 * deeper than any serialiser would write, and placeholders for the caller's own secrets, filled in
 * when the request is sent.
 */
export class Raw {
  constructor(readonly text: string) {}
}
export class Obj {
  constructor(readonly entries: [string, Value][]) {}
}
/** The caller's own credentials, resolved at send time (they change during a run). */
export class Secret {
  constructor(readonly name: 'password' | 'refresh' | 'username' | 'email') {}
}
export type Value = null | boolean | number | string | Raw | Obj | Secret | Value[];

export type Secrets = Record<Secret['name'], string>;

export function writeJson(value: Value, secrets: Secrets): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Secret) return JSON.stringify(secrets[value.name]);
  if (value instanceof Obj) {
    return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${writeJson(v, secrets)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map((v) => writeJson(v, secrets)).join(',')}]`;
  return JSON.stringify(value) ?? 'null';
}

/** Percent-encodes every byte outside the unreserved set; lone surrogates become U+FFFD, as UTF-8 requires. */
export function pct(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function formEncode(value: Value, secrets: Secrets): string {
  if (!(value instanceof Obj)) return pct(typeof value === 'string' ? value : writeJson(value, secrets));
  return value.entries
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : v instanceof Secret ? secrets[v.name] : writeJson(v, secrets);
      return `${pct(k)}=${pct(text)}`;
    })
    .join('&');
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Strings that have broken parsers, validators, SQL and templates before. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\t\n',
    '\u0000',
    'a\u0000b',
    '\u0085',
    '\u200b',
    '\ufeff',
    '\u202e',
    'e\u0301',
    '😀',
    '0',
    '-0',
    '1',
    '1e309',
    '-1',
    '9007199254740993',
    '99999999999999999999',
    '0x10',
    'NaN',
    'Infinity',
    'true',
    'null',
    '[]',
    '{}',
    "' OR '1'='1",
    "'; DROP TABLE tasks; --",
    '%',
    '%00',
    '\\',
    '\\u0000',
    '_%',
    '<script>alert(1)</script>',
    '../../etc/passwd',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, meant literally.
    '${7*7}',
    '__proto__',
    'pending,',
    ',',
    '-',
    '--created_at',
  ),
  fc.tuple(fc.string({ maxLength: 3 }), loneSurrogate, fc.string({ maxLength: 3 })).map(([a, s, b]) => a + s + b),
  fc.constantFrom(199, 200, 201, 254, 255, 256, 257, 1000, 10_000, 10_001).map((n) => 'x'.repeat(n)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
);

const oddNumber: fc.Arbitrary<Value> = fc.oneof(
  fc.constantFrom(
    ...[
      '1e309',
      '-1e309',
      '-0',
      '0.0',
      '1e-400',
      '1E2',
      '1.5',
      '123456789012345678901234567890',
      '9007199254740993',
      '-9007199254740993',
      '2147483648',
      '-2147483649',
      '9223372036854775808',
    ].map((t) => new Raw(t)),
  ),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
);

/** Deeply nested arrays or objects, past any reasonable depth. */
const deep: fc.Arbitrary<Value> = fc
  .tuple(fc.constantFrom(64, 1_000, 20_000), fc.boolean())
  .map(([n, arrays]) => new Raw(arrays ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));

const leaf: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: oddString },
  { weight: 2, arbitrary: oddNumber },
  fc.boolean(),
  fc.constant(null),
);

/** Keys a client must not be able to set, and keys that upset plain-object handling. */
export const extraKey = fc.oneof(
  fc.constantFrom(
    'id',
    'user_id',
    'role',
    'is_active',
    'hashed_password',
    'created_at',
    'updated_at',
    'completed_at',
    'version',
    '__proto__',
    'constructor',
    'prototype',
    '',
  ),
  fc.string({ maxLength: 10 }),
);

/** Any JSON value, odd leaves, occasionally huge or deep. */
export const anyJson: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 5 }) },
    {
      weight: 1,
      arbitrary: fc.array(fc.tuple(fc.oneof(extraKey, fc.string()), tie('value')), { maxLength: 5 }).map((e) => new Obj(e)),
    },
    { weight: 1, arbitrary: deep },
  ),
})).value;

function validString(name: string, schema: JsonSchema): fc.Arbitrary<Value> {
  if (schema.enum) return fc.constantFrom(...(schema.enum as string[]));
  const secret: fc.Arbitrary<Value>[] = [];
  if (name === 'password' || name === 'current_password') secret.push(fc.constant(new Secret('password')));
  if (name === 'refresh_token') secret.push(fc.constant(new Secret('refresh')));
  if (name === 'username') secret.push(fc.constant(new Secret('username')), fc.constant(new Secret('email')));
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 50, 300);
  const plain =
    schema.format === 'email'
      ? fc.emailAddress()
      : fc
          .string({ minLength: min, maxLength: Math.max(min, Math.min(max, 40)) })
          .map((s) => (min > 0 && !s.trim() ? `${s}x` : s));
  return secret.length ? fc.oneof(plain, ...secret) : plain;
}

/** A value that the schema (roughly) accepts; mutation happens around it. */
export function validValue(name: string, schema: JsonSchema, depth = 0): fc.Arbitrary<Value> {
  if (depth > 4) return fc.constant(null);
  if (schema.const !== undefined) return fc.constant(schema.const as Value);
  if (schema.enum) return fc.constantFrom(...(schema.enum as Value[]));
  const options = schema.anyOf ?? schema.oneOf;
  if (options?.length) return fc.oneof(...options.map((s) => validValue(name, s, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return validString(name, schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1000, Number.MAX_SAFE_INTEGER) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validValue(name, schema.items ?? {}, depth + 1), { maxLength: 3 });
    case 'object':
      return shapedObject(schema, depth + 1);
    default:
      return anyJson;
  }
}

/**
 * An object shaped by the schema. Mutated: each property present or not, valid or replaced by any
 * value, sometimes with extra keys. Not mutated: the properties it has are valid ones, so requests
 * get past validation into the route (where ownership and state are decided).
 */
export function shapedObject(schema: JsonSchema, depth = 0, mutate = true): fc.Arbitrary<Value> {
  const properties = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const fields = properties.map(([name, s]) => {
    const value = mutate
      ? fc.oneof({ weight: 4, arbitrary: validValue(name, s, depth) }, { weight: 1, arbitrary: anyJson })
      : validValue(name, s, depth);
    const field = value.map((v) => [name, v] as [string, Value]);
    return !mutate && required.has(name) ? field : fc.option(field, { nil: undefined, freq: 4 });
  });
  const extras = mutate
    ? fc.oneof(
        { weight: 4, arbitrary: fc.constant([] as [string, Value][]) },
        { weight: 1, arbitrary: fc.array(fc.tuple(extraKey, anyJson), { minLength: 1, maxLength: 3 }) },
      )
    : fc.constant([] as [string, Value][]);
  return fc
    .tuple(fc.tuple(...fields), extras)
    .map(([chosen, extra]) => new Obj([...chosen.filter((f): f is [string, Value] => f !== undefined), ...extra]));
}
