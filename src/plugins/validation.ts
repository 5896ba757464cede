import { Ajv, type Options } from 'ajv';
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
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object));
}

export default fp(validation, { name: 'validation' });
