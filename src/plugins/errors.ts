import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import findMyWay, { type HTTPMethod } from 'find-my-way';
import { isDatabaseUnavailable, isUnstorableInput, loggable } from '../db/errors.js';
import { AppError, type FieldError } from '../lib/errors.js';
import { originForm } from '../lib/request-target.js';
import { MAX_DETAIL_LENGTH, MAX_FIELD_ERRORS, MAX_FIELD_TEXT_LENGTH, PROBLEM_CONTENT_TYPE } from '../lib/schemas.js';

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Text cut to `max` UTF-16 units, marked with …, never ending in half a surrogate pair. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}

export function sendProblem(
  reply: FastifyReply,
  status: number,
  detail: string,
  extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
) {
  if (extra.headers) reply.headers(extra.headers);
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: clip(detail, MAX_DETAIL_LENGTH),
  };
  if (extra.errors) body.errors = extra.errors;
  // The contract of a 422 (ValidationProblem): it names at least one field; the whole body when nothing narrower is known.
  else if (status === 422) body.errors = [{ location: 'body', field: '', message: body.detail as string }];
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
}

function describeIssue(location: string, issue: AjvIssue): FieldError {
  const error = describeIssueInFull(location, issue);
  return { ...error, field: clip(error.field, MAX_FIELD_TEXT_LENGTH), message: clip(error.message, MAX_FIELD_TEXT_LENGTH) };
}

function describeIssueInFull(location: string, issue: AjvIssue): FieldError {
  const base = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const join = (name: unknown) => (base ? `${base}.${String(name)}` : String(name));
  switch (issue.keyword) {
    case 'required':
      return { location, field: join(issue.params.missingProperty), message: 'field required' };
    case 'additionalProperties':
      return { location, field: join(issue.params.additionalProperty), message: 'unknown field' };
    case 'pattern':
      return { location, field: base, message: 'contains characters that are not allowed' };
    default:
      return { location, field: base, message: issue.message ?? 'is invalid' };
  }
}

/**
 * Errors found before a request exists (a client too slow to send its request, headers too large,
 * an unparsable request line) are answered on the raw socket, still as problem+json.
 *
 * The bad bytes may follow a complete request still being served on the same connection (a DELETE
 * whose body has no Content-Length is read as the start of a second request): that request's answer
 * goes out first, then this one, in the order HTTP/1.1 requires; answering at once would close the
 * connection before it and the client would never learn that its delete took place. Node keeps the
 * response in progress on `socket._httpMessage`, as its own default handler reads it.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const inProgress = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  // Only a request received in full is sure to be answered; one cut off mid-body (a timeout) is not.
  if (inProgress && !inProgress.writableFinished && inProgress.req.complete) {
    inProgress.once('finish', () => clientErrorHandler(error, socket));
    inProgress.once('close', () => {
      if (!inProgress.writableFinished) socket.destroy();
    });
    return;
  }
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail =
    status === 408
      ? 'The request was not received in time'
      : status === 431
        ? 'Request headers too large'
        : 'Malformed HTTP request';
  const body = JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status], status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Errors Fastify's router finds before any route or hook runs (a path that is not valid
 * percent-encoding, a path parameter over the length limit): problem+json like every other error,
 * with the security headers and request id that hooks would have added, without echoing the path.
 */
export function routerErrorHandler(
  securityHeaders: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void,
) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    securityHeaders(request.raw, reply.raw, () => undefined);
    reply.header('x-request-id', request.id);
    const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
    return sendProblem(reply, status, status === 414 ? 'Path parameter too long' : 'Malformed URL');
  };
}

/** Fastify's own 4xx errors that are safe to pass on with their message. */
const PASS_THROUGH = new Map<string, number>([
  ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415],
  ['FST_ERR_CTP_BODY_TOO_LARGE', 413],
  ['FST_ERR_CTP_EMPTY_JSON_BODY', 400],
  ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400],
  ['FST_ERR_CTP_INVALID_JSON_BODY', 400],
]);

function handleError(error: FastifyError & { validationContext?: string }, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError && error.isOperational) {
    return sendProblem(reply, error.statusCode, error.message, {
      headers: error.headers,
      ...(error.errors ? { errors: error.errors } : {}),
    });
  }
  if (error.validation) {
    const location = error.validationContext ?? 'body';
    // A body of thousands of unknown fields must not become a response many times its size.
    const errors = (error.validation as AjvIssue[]).slice(0, MAX_FIELD_ERRORS).map((issue) => describeIssue(location, issue));
    const fields = [...new Set(errors.map((e) => e.field || location))].join(', ');
    return sendProblem(reply, 422, `Validation failed: ${fields}`, { errors });
  }
  const passStatus = error.code ? PASS_THROUGH.get(error.code) : undefined;
  if (passStatus) return sendProblem(reply, passStatus, error.message);
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code?.startsWith('FST_'))) {
    return sendProblem(reply, 400, 'Malformed request body: not valid JSON');
  }
  if (isDatabaseUnavailable(error)) {
    request.log.warn({ err: loggable(error) }, 'database unavailable');
    return sendProblem(reply, 503, 'The database is unavailable; retry shortly', { headers: { 'retry-after': '5' } });
  }
  if (isUnstorableInput(error)) {
    const detail = 'A value could not be stored: it is out of range or contains characters that are not allowed';
    // Every 422 names its fields; the database does not say which one, so it names the whole body.
    return sendProblem(reply, 422, detail, { errors: [{ location: 'body', field: '', message: detail }] });
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return sendProblem(reply, error.statusCode, error.message);
  }
  request.log.error({ err: loggable(error) }, 'unhandled error');
  return sendProblem(reply, 500, 'Internal server error');
}

/**
 * Every error leaves as RFC 9457 problem+json. Unknown paths are 404; a known path with the wrong
 * method is 405 with `Allow`, found by matching the path against every registered route.
 */
async function errors(app: FastifyInstance) {
  const routes = findMyWay();
  app.addHook('onRoute', (route) => {
    // The CORS preflight route matches every path; it says nothing about which methods a path has.
    if (route.url === '*' || route.url === '/*') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      try {
        routes.on(method as HTTPMethod, route.url, () => undefined);
      } catch {
        // Already known (the same route under another prefix form): nothing to add.
      }
    }
  });

  // JSON is the only body type (the login route adds forms for itself): text/plain is a 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);
  // Installed by buildApp once every plugin is registered, so it can carry the rate limit too.
  app.decorate('notFoundHandler', (request: FastifyRequest, reply: FastifyReply) => {
    const { path } = originForm(request.url);
    const allowed = (['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const).filter((m) => routes.find(m, path));
    if (allowed.length > 0) {
      return sendProblem(reply, 405, `Method ${request.method} not allowed`, { headers: { allow: allowed.join(', ') } });
    }
    return sendProblem(reply, 404, 'Not found');
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** 404, or 405 with Allow when the path exists under other methods. */
    notFoundHandler: (request: FastifyRequest, reply: FastifyReply) => FastifyReply;
  }
}

export default fp(errors, { name: 'errors' });
