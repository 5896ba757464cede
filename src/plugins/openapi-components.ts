/**
 * Names the document's bodies, so client generators produce named types (`Task`, `TaskCreate`,
 * `User`…) instead of anonymous ones. Every schema with a `title` (set once, on its TypeBox
 * definition) moves to `components.schemas` under that title and is referred to by `$ref` wherever
 * it appears, nested ones included. A request body becomes a `components.requestBodies` entry of
 * its schema's title, the schema inline there: generators such as openapi-typescript read a
 * `default` in a request as "may be left out" but in a shared schema as "always present" (as it is
 * in a response), so a create body must not be a shared schema. Two different schemas under one
 * title are a mistake of ours, refused when the document is built.
 */

// biome-ignore lint/suspicious/noExplicitAny: the generated document is plain JSON of many shapes, walked by key.
type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** Keywords whose value is a schema, a list of schemas, or a map of names to schemas. */
const ONE = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains'];
const MANY = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const MAP = ['properties', 'patternProperties', '$defs'];

export function nameComponents(document: Json): Json {
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.requestBodies ??= {};
  const schemas: Json = document.components.schemas;
  const requestBodies: Json = document.components.requestBodies;
  const written = new Map<string, string>(Object.entries(schemas).map(([name, schema]) => [name, JSON.stringify(schema)]));
  /** Records `value` under `name` in `into`, refusing a different value already there. */
  const once = (into: Json, kind: string, name: string, value: Json) => {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new Error(`schema title "${name}" is not a component name`);
    const key = `${kind}/${name}`;
    const json = JSON.stringify(value);
    const earlier = written.get(key) ?? (kind === 'schemas' ? written.get(name) : undefined);
    if (earlier !== undefined && earlier !== json) throw new Error(`two different schemas are both named ${name}`);
    written.set(key, json);
    into[name] = value;
    return { $ref: `#/components/${kind}/${name}` };
  };

  /** The schema with its titled sub-schemas replaced by references. */
  const inside = (schema: Json): Json => {
    const out: Json = { ...schema };
    for (const key of ONE) if (typeof out[key] === 'object') out[key] = hoist(out[key]);
    for (const key of MANY) if (Array.isArray(out[key])) out[key] = out[key].map(hoist);
    for (const key of MAP) {
      if (out[key] && typeof out[key] === 'object') {
        out[key] = Object.fromEntries(Object.entries<unknown>(out[key]).map(([name, sub]) => [name, hoist(sub)]));
      }
    }
    return out;
  };
  const hoist = (schema: unknown): unknown => {
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
    const out = inside(schema as Json);
    return typeof out.title === 'string' && out.$ref === undefined ? once(schemas, 'schemas', out.title, out) : out;
  };

  // The components registered as shared schemas (Problem…) are named already; their parts get named too.
  for (const [name, schema] of Object.entries<Json>(schemas)) schemas[name] = inside(schema);
  const nameRequest = (requestBody: Json | undefined): Json | undefined => {
    if (!requestBody?.content) return requestBody;
    const content: Json = {};
    const titles = new Set<unknown>();
    for (const [type, media] of Object.entries<Json>(requestBody.content)) {
      content[type] = media.schema ? { ...media, schema: inside(media.schema) } : media;
      titles.add(media.schema?.title);
    }
    const [title] = titles;
    if (titles.size !== 1 || typeof title !== 'string') return { ...requestBody, content };
    return once(requestBodies, 'requestBodies', title, { ...requestBody, content });
  };
  for (const item of Object.values<Json>(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      if (operation.requestBody) operation.requestBody = nameRequest(operation.requestBody);
      for (const response of Object.values<Json>(operation.responses ?? {})) {
        for (const media of Object.values<Json>(response.content ?? {})) if (media.schema) media.schema = hoist(media.schema);
      }
    }
  }
  return document;
}
