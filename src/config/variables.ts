import { type Static, type TObject, type TSchema, type TUnsafe, Type } from 'typebox';

/**
 * The machinery behind the configuration schema (config/schema.ts): each leaf of a TypeBox object
 * names its environment variable, how the variable's text becomes the value (with the one-line
 * error a bad value gets) and how .env.example documents it. The type, the allow-list, the loader
 * and .env.example are all read from that one object.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Record<string, string | undefined>;

/** How a variable is documented in .env.example. */
export interface Doc {
  /** The section it is listed in (see EnvFileLayout). */
  group: string;
  /** Comment lines above it. */
  doc?: string[];
  /** Unset by default: listed commented out, with this value. */
  example?: string;
  /** The default as written in the file, when String(default) is not how to write it. */
  sample?: string;
  /** Listed commented out with its default (so a value from elsewhere applies). */
  commented?: boolean;
}

interface Variable extends Doc {
  name: string;
  default?: unknown;
  /** Given the raw value, untrimmed (firstAdmin's password keeps its spaces); otherwise trimmed, '' as unset. */
  raw?: boolean;
  parse(value: string | undefined, name: string): unknown;
}

const VARIABLE = 'x-env';
const TOGETHER = 'x-env-together';

function leaf<T>(schema: TSchema, variable: Variable): TUnsafe<T> {
  const description = variable.doc?.join(' ');
  return Type.Unsafe<T>({ ...schema, ...(description ? { description } : {}), [VARIABLE]: variable });
}

function variableOf(schema: TSchema): Variable | undefined {
  return (schema as Record<string, unknown>)[VARIABLE] as Variable | undefined;
}

/** An integer from min to max. */
export function integer(name: string, fallback: number, [min, max]: [number, number], doc: Doc) {
  return leaf<number>(Type.Integer({ minimum: min, maximum: max, default: fallback }), {
    ...doc,
    name,
    default: fallback,
    parse: (raw) => (raw === undefined ? fallback : checkedInteger(name, raw, min, max)),
  });
}

export function checkedInteger(name: string, raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return Number(raw);
}

/** One of a list of words; documented by the list unless `doc` says more. */
export function oneOf<const T extends string>(name: string, values: readonly T[], fallback: T, doc: Doc) {
  return leaf<T>(
    Type.Union(
      values.map((value) => Type.Literal(value)),
      { default: fallback },
    ),
    {
      doc: [values.join(' | ')],
      ...doc,
      name,
      default: fallback,
      parse: (raw) => {
        if (raw === undefined) return fallback;
        if (!(values as readonly string[]).includes(raw)) {
          throw new ConfigError(`${name} must be one of ${values.join(', ')} (got "${raw}")`);
        }
        return raw;
      },
    },
  );
}

export function flag(name: string, fallback: boolean, doc: Doc) {
  return leaf<boolean>(Type.Boolean({ default: fallback }), {
    ...doc,
    name,
    default: fallback,
    parse: (raw) => {
      if (raw === undefined) return fallback;
      if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
      if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
      throw new ConfigError(`${name} must be true or false (got "${raw}")`);
    },
  });
}

/** Free text with a default. */
export function text(name: string, fallback: string, doc: Doc) {
  return leaf<string>(Type.String({ default: fallback }), { ...doc, name, default: fallback, parse: (raw) => raw ?? fallback });
}

/** Free text, undefined when unset. */
export function optionalText(name: string, doc: Doc) {
  return leaf<string | undefined>(Type.Optional(Type.String()), { ...doc, name, parse: (raw) => raw });
}

/** A value of its own form: `parse` gets the trimmed text (undefined when unset) and throws a ConfigError. */
export function custom<T>(name: string, schema: TSchema, parse: (raw: string | undefined, name: string) => T, doc: Doc) {
  return leaf<T>(schema, { ...doc, name, default: (schema as { default?: unknown }).default, parse });
}

/** A secret of at least `minBytes`, undefined when unset (config/schema.ts says when it is required). */
export function secret(name: string, minBytes: number, doc: Doc) {
  return leaf<string | undefined>(Type.Optional(Type.String({ minLength: 1 })), {
    ...doc,
    name,
    parse: (raw) => {
      if (raw !== undefined && Buffer.byteLength(raw, 'utf8') < minBytes) {
        throw new ConfigError(`${name} must be at least ${minBytes} bytes long (got ${Buffer.byteLength(raw, 'utf8')})`);
      }
      return raw;
    },
  });
}

/** A URL whose scheme is one of `schemes` (e.g. ['postgres:', 'postgresql:']), undefined when unset. */
export function url(name: string, schemes: string[], doc: Doc) {
  return leaf<string | undefined>(Type.Optional(Type.String({ format: 'uri' })), {
    ...doc,
    name,
    parse: (raw) => (raw === undefined ? undefined : checkedUrl(name, raw, schemes)),
  });
}

/** A comma-separated list of URLs, each checked like `url`; empty when unset. */
export function urlList(name: string, schemes: string[], doc: Doc) {
  return leaf<string[]>(Type.Array(Type.String({ format: 'uri' }), { default: [] }), {
    ...doc,
    name,
    default: [],
    parse: (raw) => {
      if (raw === undefined) return [];
      const entries = raw.split(',').map((entry) => entry.trim());
      return entries.map((entry, i) => {
        if (entry === '') throw new ConfigError(`${name}: entry ${i + 1} is empty`);
        return checkedUrl(entries.length > 1 ? `${name} (entry ${i + 1})` : name, entry, schemes);
      });
    },
  });
}

/** Checks one URL; the message never repeats the value, which may hold a password. */
function checkedUrl(name: string, raw: string, schemes: string[]): string {
  const expected = schemes.map((scheme) => `${scheme}//`).join(' or ');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a ${expected} URL`);
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must be a ${expected} URL (got scheme "${parsed.protocol}")`);
  }
  return raw;
}

/** Like `custom`, but `parse` gets the value as set, untrimmed. */
export function rawText(name: string, doc: Doc) {
  return leaf<string>(Type.String(), { ...doc, name, raw: true, parse: (raw) => raw });
}

/** An object whose variables are set together or not at all (undefined). */
export function together<O extends TObject>(object: O) {
  return Type.Unsafe<Static<O> | undefined>({ ...Type.Union([object, Type.Undefined()]), [TOGETHER]: object });
}

function read(env: Env, variable: Variable): string | undefined {
  const value = variable.raw ? env[variable.name] : env[variable.name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** Every variable under `schema`, in its order. */
export function variablesOf(schema: TSchema): Variable[] {
  const variable = variableOf(schema);
  if (variable) return [variable];
  const group = (schema as Record<string, unknown>)[TOGETHER] as TObject | undefined;
  if (group) return variablesOf(group);
  if (Type.IsObject(schema)) return Object.values(schema.properties).flatMap((property) => variablesOf(property));
  return [];
}

/** The value `schema` describes, read from `env`; the first bad variable throws its one-line ConfigError. */
export function readConfig<S extends TObject>(schema: S, env: Env): Static<S> {
  return readValue(schema, env) as Static<S>;
}

function readValue(schema: TSchema, env: Env): unknown {
  const variable = variableOf(schema);
  if (variable) return variable.parse(read(env, variable), variable.name);
  const group = (schema as Record<string, unknown>)[TOGETHER] as TObject | undefined;
  if (group) {
    const names = variablesOf(group).map((v) => v.name);
    const set = names.map((name) => env[name] !== undefined && env[name] !== '');
    if (set.every((s) => !s)) return undefined;
    if (set.some((s) => !s)) throw new ConfigError(`${names.join(', ')} must be set together`);
    return readValue(group, env);
  }
  if (!Type.IsObject(schema)) throw new Error('a configuration schema is made of objects and variables');
  return Object.fromEntries(Object.entries(schema.properties).map(([key, property]) => [key, readValue(property, env)]));
}

/** The default as an environment variable writes it; undefined when the variable is unset by default. */
export function writtenDefault(variable: Variable): string | undefined {
  return variable.example === undefined ? (variable.sample ?? String(variable.default)) : undefined;
}

export interface EnvFileLayout {
  header: string[];
  groups: Array<{ id: string; title: string; intro?: string[] }>;
  /** Written as is (a section of variables task-api does not read). */
  footer: string[];
}

const comment = (line: string) => (line === '' ? '#' : `# ${line}`);

export const sectionTitle = (title: string) => `# --- ${title} `.padEnd(92, '-');

/** The text of .env.example: the layout's sections, each variable with its comments and default or example. */
export function renderEnvFile(schema: TSchema, layout: EnvFileLayout): string {
  const variables = variablesOf(schema);
  const unknown = variables.filter((v) => !layout.groups.some((g) => g.id === v.group));
  if (unknown.length) throw new Error(`no section for ${unknown.map((v) => `${v.name} (${v.group})`).join(', ')}`);
  const sections = layout.groups.map(({ id, title, intro = [] }) => {
    const lines = [sectionTitle(title), ...intro.map(comment)];
    for (const v of variables.filter((variable) => variable.group === id)) {
      lines.push(...(v.doc ?? []).map(comment));
      if (v.example !== undefined) lines.push(`# ${v.name}=${v.example}`);
      else lines.push(`${v.commented ? '# ' : ''}${v.name}=${writtenDefault(v)}`);
    }
    return lines.join('\n');
  });
  return `${[layout.header.map(comment).join('\n'), ...sections, layout.footer.join('\n')].join('\n\n')}\n`;
}
