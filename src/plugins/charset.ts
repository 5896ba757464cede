import { TextDecoder } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../lib/errors.js';

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The charset parameter of a Content-Type value (RFC 9110 §8.3.1: names case-insensitive, value a token or quoted). */
function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const eq = parameter.indexOf('=');
    if (eq < 0 || parameter.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return parameter
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** Any label the WHATWG Encoding Standard maps to UTF-8 (utf-8, UTF8, unicode-1-1-utf-8…). */
function isUtf8(label: string): boolean {
  try {
    return new TextDecoder(label).encoding === 'utf-8';
  } catch {
    return false;
  }
}

async function refuseOtherCharsets(request: FastifyRequest, _reply: FastifyReply, payload: unknown) {
  const { 'content-type': type, 'content-length': length, 'transfer-encoding': chunked } = request.headers;
  const hasBody = chunked !== undefined || (length !== undefined && length !== '0');
  if (type === undefined || !hasBody || BODYLESS.has(request.method)) return payload;
  const charset = charsetOf(type);
  if (charset !== undefined && !isUtf8(charset)) {
    throw new AppError(415, 'Unsupported charset: request bodies are read as UTF-8 only');
  }
  return payload;
}

/**
 * Bodies are decoded as UTF-8 whatever they declare: one declared in another charset (utf-7, latin1)
 * would be misread, so it is a 415. The check is added to each route after its own preParsing hooks,
 * so authentication still answers first, as for any other unsupported media type.
 */
async function charset(app: FastifyInstance) {
  app.addHook('onRoute', (route: RouteOptions) => {
    // Routes that read a body (and document their 415); the others ignore whatever is sent.
    if (route.schema?.body === undefined) return;
    const own = route.preParsing === undefined ? [] : Array.isArray(route.preParsing) ? route.preParsing : [route.preParsing];
    route.preParsing = [...own, refuseOtherCharsets] as RouteOptions['preParsing'];
  });
}

export default fp(charset, { name: 'charset' });
