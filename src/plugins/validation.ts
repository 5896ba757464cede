import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({
    // Unknown fields are refused (422), never silently dropped: nobody can send `role` and be ignored quietly.
    removeAdditional: false,
    useDefaults: true,
    allErrors: true,
    strict: false,
    ...options,
  });
  addFormats(ajv);
  return ajv;
}

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

/**
 * Two validators: JSON bodies are typed and never coerced ("1" is not a number), while query
 * strings, path parameters and headers arrive as text and are coerced to their declared types.
 */
async function validation(app: FastifyInstance) {
  const bodyAjv = createAjv({ coerceTypes: false });
  const textAjv = createAjv({ coerceTypes: 'array' });
  for (const schema of Object.values(app.getSchemas())) {
    bodyAjv.addSchema(schema as object);
    textAjv.addSchema(schema as object);
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodyAjv.compile(schema as object) : strictIntegers(schema as object, textAjv.compile(schema as object)),
  );
}

export default fp(validation, { name: 'validation' });
