/** The operations of an OpenAPI 3.1 document, in the shape the fuzzer needs. */

export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  $ref?: string;
};

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** The templated path, e.g. /api/v1/tasks/{id}. */
  path: string;
  parameters: Parameter[];
  /** Media type → schema of the request body, when the operation takes one. */
  body?: Record<string, JsonSchema>;
  /** Status codes the document lists for this operation. */
  statuses: Set<string>;
  secured: boolean;
}

export interface Document {
  paths: Record<string, Record<string, Record<string, any>>>;
  components?: { schemas?: Record<string, JsonSchema>; requestBodies?: Record<string, any> };
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** Replaces local $refs (#/components/schemas/X) by their targets, so generators see plain schemas. */
function resolve(schema: JsonSchema | undefined, doc: Document, depth = 0): JsonSchema {
  if (!schema || depth > 20) return {};
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return resolve(doc.components?.schemas?.[name], doc, depth + 1);
  }
  const out: JsonSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, resolve(v, doc, depth + 1)]));
  }
  if (schema.items) out.items = resolve(schema.items, doc, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (schema[key]) out[key] = schema[key]?.map((s) => resolve(s, doc, depth + 1));
  }
  return out;
}

/** An operation's request body, a named one (#/components/requestBodies/X) looked up. */
export function requestBodyOf(op: Record<string, any>, doc: Document): Record<string, any> | undefined {
  const ref = op.requestBody?.$ref as string | undefined;
  return ref ? doc.components?.requestBodies?.[ref.slice('#/components/requestBodies/'.length)] : op.requestBody;
}

export function operationsOf(doc: Document): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const parameters = [...((item.parameters ?? []) as Parameter[]), ...((op.parameters ?? []) as Parameter[])].map(
        (p: Parameter) => ({
          name: p.name,
          in: p.in,
          schema: resolve(p.schema, doc),
        }),
      );
      const content = requestBodyOf(op, doc)?.content as Record<string, { schema?: JsonSchema }> | undefined;
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters,
        body: content
          ? Object.fromEntries(Object.entries(content).map(([type, c]) => [type, resolve(c.schema, doc)]))
          : undefined,
        statuses: new Set(Object.keys(op.responses ?? {})),
        secured: Array.isArray(op.security) ? op.security.length > 0 : false,
      });
    }
  }
  return operations;
}
