/** The routes of the running app, read from its own /openapi.json: tests that iterate over them cover new routes. */
export interface Operation {
  method: string;
  /** OpenAPI path, e.g. /api/v1/tasks/{id} */
  path: string;
  tags: string[];
  summary: string;
  /** The route needs a bearer token. */
  secured: boolean;
  parameters: Array<{ in: string; name: string; schema: Record<string, any> }>;
  /** Media type → schema of the request body. */
  bodies: Record<string, Record<string, any>>;
  responses: string[];
}

export async function openApiDocument(baseUrl: string): Promise<any> {
  const res = await fetch(`${baseUrl}/openapi.json`);
  if (res.status !== 200) throw new Error(`GET /openapi.json: ${res.status}`);
  return res.json();
}

/** The schema with the document's local references (#/components/schemas/X) replaced by their targets. */
export function resolveRefs(schema: any, doc: any, depth = 0): any {
  if (depth > 30 || schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((s) => resolveRefs(s, doc, depth + 1));
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#/components/schemas/')) {
    return resolveRefs(doc.components.schemas[schema.$ref.slice('#/components/schemas/'.length)], doc, depth + 1);
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, resolveRefs(value, doc, depth + 1)]));
}

/** An operation's request body, a named one (#/components/requestBodies/X) looked up. */
export function requestBodyOf(op: any, doc: any): any {
  const ref = op.requestBody?.$ref;
  return typeof ref === 'string' ? doc.components.requestBodies[ref.slice('#/components/requestBodies/'.length)] : op.requestBody;
}

export async function operations(baseUrl: string): Promise<Operation[]> {
  const doc = await openApiDocument(baseUrl);
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const bodies: Operation['bodies'] = {};
      for (const [type, media] of Object.entries<any>(requestBodyOf(op, doc)?.content ?? {})) {
        bodies[type] = resolveRefs(media.schema, doc);
      }
      out.push({
        method: method.toUpperCase(),
        path,
        tags: op.tags ?? [],
        summary: op.summary ?? '',
        secured: Array.isArray(op.security) && op.security.length > 0,
        parameters: op.parameters ?? [],
        bodies,
        responses: Object.keys(op.responses ?? {}),
      });
    }
  }
  return out;
}

export const describeOp = (op: Pick<Operation, 'method' | 'path'>) => `${op.method} ${op.path}`;

/** The path with its {id} filled in. */
export const fillPath = (path: string, id: number | string) => path.replace(/\{[^}]+\}/g, String(id));

export const hasIdParam = (op: Operation) => op.parameters.some((p) => p.in === 'path');
export const queryParams = (op: Operation) => op.parameters.filter((p) => p.in === 'query');
export const isAdminRoute = (op: Operation) => op.tags.includes('admin');

/** The document as `npm run lint:openapi` writes it (no database, rate limits on). */
export async function generatedDocument(): Promise<any> {
  const { openApiDocument: build } = await import('../../src/scripts/openapi-document.js');
  return build();
}
