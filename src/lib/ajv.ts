import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The one ajv setup: the request validators (plugins/validation) and the modules' own checks share it. */
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
