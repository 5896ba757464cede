import type http from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { type Document, type JsonSchema, requestBodyOf } from './openapi.js';
import type { Response, SentRequest } from './world.js';

// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * The OpenAPI document as a contract, checked the way a validating proxy checks traffic:
 * - a request the server accepted (2xx) must be valid per the document: every required parameter
 *   present, every parameter and the body valid against its schema (so a parameter the server lets
 *   a client leave out must not be documented as required);
 * - every documented response header present in a response, and a JSON response body, must be
 *   valid against its schema.
 * Strict on formats: a format the validator does not know is an error, not a pass.
 */

type Json = Record<string, any>;

export interface Exchange {
  method: string;
  /** The templated path of the operation, e.g. /api/v1/tasks/{id}. */
  operationPath: string;
  /** What was sent: the path with its query, the request headers, the body text. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  status: number;
  responseHeaders: http.IncomingHttpHeaders;
  text: string;
}

/** One request as sent and the response to it, as `check` reads them. */
export const exchangeOf = (operationPath: string, sent: SentRequest, response: Response): Exchange => ({
  method: sent.method,
  operationPath,
  path: sent.path,
  headers: sent.headers,
  body: sent.body,
  status: response.status,
  responseHeaders: response.headers,
  text: response.text,
});

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** The types a schema admits, looking through anyOf/oneOf (TypeBox writes unions of literals so). */
function typesOf(schema: JsonSchema): Set<string> {
  const out = new Set<string>();
  const add = (s: JsonSchema) => {
    if (s.type) for (const t of Array.isArray(s.type) ? s.type : [s.type]) out.add(t);
    if (s.const !== undefined) out.add(typeof s.const);
    if (s.enum) for (const v of s.enum) out.add(typeof v);
    for (const sub of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) add(sub);
  };
  add(schema);
  return out;
}

/** Text from a URL, header or form, read as the schema's type; anything unreadable stays text (and fails). */
function fromText(text: string, schema: JsonSchema): unknown {
  const types = typesOf(schema);
  if ((types.has('integer') || types.has('number')) && /^-?(0|[1-9]\d*)(\.\d+)?$/.test(text)) return Number(text);
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

export class Contract {
  private readonly ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly operations = new Map<string, Json>();

  constructor(private readonly doc: Document) {
    addFormats(this.ajv);
    // OpenAPI's own integer formats (ajv-formats has only JSON Schema's).
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) this.operations.set(`${method.toUpperCase()} ${path}`, op);
    }
  }

  /** Every way the exchange breaks the document (empty when it keeps it). */
  check(exchange: Exchange): string[] {
    if (!this.operations.has(`${exchange.method} ${exchange.operationPath}`))
      return [`${exchange.method} ${exchange.operationPath} is not in the document`];
    // The operation the sent path names (a fuzzed id of "" makes /users/{id} the path /users/);
    // a path the document does not list at all is not the document's to judge.
    const template = this.templateOf(exchange.method, exchange.path.split('?', 1)[0] ?? '');
    if (template === undefined) return [];
    const op = this.operations.get(`${exchange.method} ${template}`) as Json;
    exchange = { ...exchange, operationPath: template };
    const problems: string[] = [];
    if (exchange.status >= 200 && exchange.status < 300) problems.push(...this.checkRequest(op, exchange));
    problems.push(...this.checkResponse(op, exchange));
    return problems;
  }

  /** Whether the document lists the response's status for the operation. */
  documents(exchange: Pick<Exchange, 'method' | 'operationPath' | 'status'>): boolean {
    const op = this.operations.get(`${exchange.method} ${exchange.operationPath}`);
    return Boolean(op?.responses?.[String(exchange.status)] ?? op?.responses?.default);
  }

  private checkRequest(op: Json, exchange: Exchange): string[] {
    const problems: string[] = [];
    const [pathPart = '', search = ''] = exchange.path.split('?', 2);
    const query = new URLSearchParams(search);
    const pathValues = this.pathValues(exchange.operationPath, pathPart);
    const headers = Object.fromEntries(Object.entries(exchange.headers).map(([k, v]) => [k.toLowerCase(), v]));
    for (const parameter of (op.parameters ?? []) as Json[]) {
      const where = `request ${parameter.in} parameter ${parameter.name}`;
      const text =
        parameter.in === 'query'
          ? (query.get(parameter.name) ?? undefined)
          : parameter.in === 'header'
            ? headers[String(parameter.name).toLowerCase()]
            : parameter.in === 'path'
              ? pathValues[parameter.name]
              : undefined;
      if (text === undefined) {
        if (parameter.required) problems.push(`${where} is required by the document but was not sent, and the server accepted`);
        continue;
      }
      problems.push(
        ...this.validate(
          `param:${parameter.in}:${parameter.name}:${JSON.stringify(parameter.schema)}`,
          parameter.schema,
          fromText(text, parameter.schema),
          where,
        ),
      );
    }
    const requestBody = requestBodyOf(op, this.doc);
    const content = requestBody?.content as Record<string, { schema: JsonSchema }> | undefined;
    if (content) {
      const sent = exchange.body !== undefined && exchange.body !== '';
      if (!sent) {
        if (requestBody?.required)
          problems.push('request body is required by the document but was not sent, and the server accepted');
      } else {
        const type = mediaType(headers['content-type']);
        const media = content[type];
        if (!media) problems.push(`request body of type "${type}" is not documented, and the server accepted it`);
        else {
          let value: unknown;
          if (type === 'application/x-www-form-urlencoded') {
            const props = media.schema.properties ?? {};
            value = Object.fromEntries(
              [...new URLSearchParams(exchange.body)].map(([k, v]) => [k, props[k] ? fromText(v, props[k]) : v]),
            );
          } else {
            try {
              value = JSON.parse(exchange.body ?? '');
            } catch {
              return [...problems, 'request body is not JSON, and the server accepted it'];
            }
          }
          problems.push(...this.validate(`body:${op.operationId}:${type}`, media.schema, value, 'request body'));
        }
      }
    }
    return problems;
  }

  private checkResponse(op: Json, exchange: Exchange): string[] {
    const response = (op.responses?.[String(exchange.status)] ?? op.responses?.default) as Json | undefined;
    if (!response) return [];
    const problems: string[] = [];
    for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
      const raw = exchange.responseHeaders[name.toLowerCase()];
      if (raw === undefined) continue;
      const values = Array.isArray(raw) ? raw : [raw];
      if (values.length > 1) problems.push(`response header ${name} is sent ${values.length} times`);
      for (const text of values)
        problems.push(
          ...this.validate(
            `header:${name}:${JSON.stringify(header.schema)}`,
            header.schema,
            fromText(text, header.schema),
            `response header ${name}: ${JSON.stringify(text.slice(0, 100))}`,
          ),
        );
    }
    const type = mediaType(exchange.responseHeaders['content-type'] as string | undefined);
    const media = response.content?.[type] as { schema?: JsonSchema } | undefined;
    if (response.content && exchange.text !== '' && !media) {
      problems.push(`response content type "${type}" is not documented for ${exchange.status}`);
    } else if (media?.schema && /json$/.test(type)) {
      let body: unknown;
      try {
        body = JSON.parse(exchange.text);
      } catch {
        return [...problems, `response body is not JSON although ${type}`];
      }
      problems.push(
        ...this.validate(`response:${op.operationId}:${exchange.status}:${type}`, media.schema, body, 'response body'),
      );
    }
    return problems;
  }

  /** The documented path template that matches a sent path, literal segments first. */
  private templateOf(method: string, path: string): string | undefined {
    let best: { template: string; params: number } | undefined;
    for (const key of this.operations.keys()) {
      const [m, template = ''] = key.split(' ', 2);
      if (m !== method || !this.templatePattern(template).test(path)) continue;
      const params = (template.match(/\{/g) ?? []).length;
      if (!best || params < best.params) best = { template, params };
    }
    return best?.template;
  }

  private readonly patterns = new Map<string, RegExp>();

  private templatePattern(template: string): RegExp {
    let pattern = this.patterns.get(template);
    if (!pattern) {
      const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, '([^/]+)');
      pattern = new RegExp(`^${source}$`);
      this.patterns.set(template, pattern);
    }
    return pattern;
  }

  /** The values of the templated path's {parameters} in the sent path (still percent-encoded). */
  private pathValues(template: string, path: string): Record<string, string> {
    const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    const match = this.templatePattern(template).exec(path);
    const out: Record<string, string> = {};
    names.forEach((name, i) => {
      const value = match?.[i + 1];
      if (value === undefined) return;
      try {
        out[name] = decodeURIComponent(value);
      } catch {
        out[name] = value;
      }
    });
    return out;
  }

  private validate(key: string, schema: JsonSchema, value: unknown, where: string): string[] {
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(this.inline(schema));
      this.compiled.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).slice(0, 3).map((e) => `${where}${e.instancePath} ${e.message} (${e.schemaPath})`);
  }

  /** The schema with the document's local $refs replaced by their targets. */
  private inline(schema: unknown, depth = 0): Json {
    if (depth > 30 || schema === null || typeof schema !== 'object') return schema as Json;
    if (Array.isArray(schema)) return schema.map((s) => this.inline(s, depth + 1)) as unknown as Json;
    const ref = (schema as Json).$ref as string | undefined;
    if (ref?.startsWith('#/components/schemas/')) {
      const target = this.doc.components?.schemas?.[ref.slice('#/components/schemas/'.length)];
      if (!target) throw new Error(`unresolved $ref ${ref}`);
      const { $id: _id, ...rest } = target as Json;
      return this.inline(rest, depth + 1);
    }
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, this.inline(v, depth + 1)]));
  }
}
