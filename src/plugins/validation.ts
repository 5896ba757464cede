import type { ErrorObject, ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createAjv } from '../lib/ajv.js';

const DECIMAL_INTEGER = /^-?(0|[1-9]\d*)$/;

/**
 * ajv coerces text with Number(), which also reads "0x10", "1e1" and " 1". For path and query
 * integers only plain decimal digits are accepted; anything else fails like any other bad integer.
 */
function strictIntegers(schema: { properties?: Record<string, { type?: unknown }> }, validate: ValidateFunction) {
  const integers = Object.entries(schema.properties ?? {})
    .filter(([, property]) => property.type === 'integer')
    .map(([name]) => name);
  if (integers.length === 0) return validate;
  const wrapped = (data: Record<string, unknown>) => {
    const bad: ErrorObject[] = integers
      .filter((name) => typeof data?.[name] === 'string' && !DECIMAL_INTEGER.test(data[name] as string))
      .map((name) => ({
        instancePath: `/${name}`,
        schemaPath: '',
        keyword: 'type',
        params: { type: 'integer' },
        message: 'must be integer',
      }));
    if (bad.length > 0) {
      wrapped.errors = bad;
      return false;
    }
    const valid = validate(data);
    wrapped.errors = validate.errors;
    return valid;
  };
  wrapped.errors = null as ErrorObject[] | null | undefined;
  return wrapped;
}

type Schema = Record<string, unknown>;
const LENGTH_KEYWORDS = ['minLength', 'maxLength'] as const;
const TEXT_KEYWORDS = ['pattern', 'format'] as const;
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'example', 'required']);
const NAMED_SCHEMAS = new Set(['properties', 'patternProperties', 'dependentSchemas', '$defs', 'definitions']);

/**
 * The same schema, checked length first: a pattern or format sits under `if {length bounds} then {…}`,
 * so it never runs on a string already refused for its length (ajv's allErrors would otherwise run every
 * keyword, and a backtracking pattern on a 60,000-character title blocks the event loop for seconds).
 * Same meaning; only the validator sees it, the published document keeps its plain form.
 */
export function lengthFirst(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(lengthFirst);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) {
    if (DATA_KEYWORDS.has(key)) out[key] = value;
    else if (NAMED_SCHEMAS.has(key) && value !== null && typeof value === 'object') {
      // Names to schemas: a property may be called `pattern` without being one.
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, lengthFirst(sub)]));
    } else out[key] = lengthFirst(value);
  }
  const bounds = LENGTH_KEYWORDS.filter((k) => out[k] !== undefined);
  const checks = TEXT_KEYWORDS.filter((k) => out[k] !== undefined);
  if (bounds.length === 0 || checks.length === 0) return out;
  // A schema object, never awaited: its `then` is JSON Schema's.
  const guarded = Object.fromEntries([
    ['if', Object.fromEntries(bounds.map((k) => [k, out[k]]))],
    ['then', Object.fromEntries(checks.map((k) => [k, out[k]]))],
  ]);
  for (const k of checks) delete out[k];
  out.allOf = [...((out.allOf as unknown[] | undefined) ?? []), guarded];
  return out;
}

/** The `if` failure that accompanies every failing `then` adds nothing a client can act on. */
function withoutIfErrors(validate: ValidateFunction) {
  const wrapped = (data: unknown) => {
    const valid = validate(data);
    wrapped.errors = validate.errors?.filter((e) => e.keyword !== 'if') ?? null;
    return valid;
  };
  wrapped.errors = null as ErrorObject[] | null;
  return wrapped as unknown as ValidateFunction;
}

/**
 * Two validators: JSON bodies are typed and never coerced ("1" is not a number), while query
 * strings, path parameters and headers arrive as text and are coerced to their declared types.
 */
async function validation(app: FastifyInstance) {
  const bodyAjv = createAjv({ coerceTypes: false });
  const textAjv = createAjv({ coerceTypes: 'array' });
  for (const schema of Object.values(app.getSchemas())) {
    bodyAjv.addSchema(lengthFirst(schema) as object);
    textAjv.addSchema(lengthFirst(schema) as object);
  }
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const guarded = lengthFirst(schema) as object;
    return httpPart === 'body'
      ? withoutIfErrors(bodyAjv.compile(guarded))
      : strictIntegers(schema as object, withoutIfErrors(textAjv.compile(guarded)));
  });
}

export default fp(validation, { name: 'validation' });
