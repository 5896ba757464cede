/**
 * Gives every request body and every success response of the document an example, built from the
 * examples its schemas' fields carry (written once, beside each field's definition): the Swagger
 * page and client generators show a whole body, and a test checks each one against its schema.
 * A field without an example gets its default, its first allowed value, or a value of its format.
 */

// biome-ignore lint/suspicious/noExplicitAny: the generated document is plain JSON of many shapes, walked by key.
type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const BY_FORMAT: Record<string, unknown> = {
  'date-time': '2026-11-24T10:30:00.000Z',
  email: 'ada@example.com',
  uri: 'https://example.com/',
  'uri-reference': 'about:blank',
  uuid: '0b7e5d4c-3f2a-4c1b-9a8e-7d6c5b4a3f21',
};

export function exampleOf(schema: Json | undefined, components: Json, depth = 0): unknown {
  if (!schema || depth > 20) return undefined;
  if (typeof schema.$ref === 'string') {
    return exampleOf(components[schema.$ref.replace('#/components/schemas/', '')], components, depth + 1);
  }
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const branches = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branches)) {
    const first = branches.find((b: Json) => b.type !== 'null') ?? branches[0];
    return exampleOf(first, components, depth + 1);
  }
  switch (schema.type) {
    case 'object': {
      const required = new Set<string>(schema.required ?? []);
      const out: Json = {};
      for (const [name, property] of Object.entries<Json>(schema.properties ?? {})) {
        // Optional fields appear when they say how they look (an example of their own): a whole body, not every knob.
        const illustrated = property.examples !== undefined || property.$ref !== undefined;
        if (!required.has(name) && !illustrated) continue;
        const value = exampleOf(property, components, depth + 1);
        if (value !== undefined) out[name] = value;
      }
      return out;
    }
    case 'array': {
      const item = exampleOf(schema.items, components, depth + 1);
      return item === undefined ? [] : [item];
    }
    case 'string':
      return BY_FORMAT[schema.format] ?? 'text';
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    default:
      return undefined;
  }
}

export function addExamples(document: Json): Json {
  const components: Json = document.components?.schemas ?? {};
  const illustrate = (holder: Json | undefined) => {
    for (const media of Object.values<Json>(holder?.content ?? {})) {
      if (media.schema && media.example === undefined && media.examples === undefined) {
        const example = exampleOf(media.schema, components);
        if (example !== undefined) media.example = example;
      }
    }
  };
  // Named request bodies (components.requestBodies) are illustrated once, where they are defined.
  for (const requestBody of Object.values<Json>(document.components?.requestBodies ?? {})) illustrate(requestBody);
  for (const item of Object.values<Json>(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      illustrate(operation.requestBody);
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        if (status.startsWith('2')) illustrate(response);
      }
    }
  }
  return document;
}
