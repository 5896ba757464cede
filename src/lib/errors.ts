/**
 * The one error type of task-api. `isOperational` errors are expected outcomes (bad credentials,
 * a missing task) and are answered as they are; anything else is a bug, logged and answered as a
 * bare 500.
 */
export interface FieldError {
  location: string;
  field: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly isOperational: boolean;
  readonly errors: FieldError[] | undefined;

  constructor(
    statusCode: number,
    detail: string,
    options: { headers?: Record<string, string>; isOperational?: boolean; cause?: unknown; errors?: FieldError[] } = {},
  ) {
    super(detail, { cause: options.cause });
    this.statusCode = statusCode;
    this.headers = options.headers ?? {};
    this.isOperational = options.isOperational ?? true;
    this.errors = options.errors;
  }
}

const BEARER_CHALLENGE = { 'www-authenticate': 'Bearer' };

export const unauthorized = (detail = 'Could not validate credentials') =>
  new AppError(401, detail, { headers: BEARER_CHALLENGE });
export const forbidden = (detail = 'Not enough permissions') => new AppError(403, detail);
/**
 * RFC 6750 §3.1: the credential is valid but not enough for this route: a personal access token
 * without the scope the route needs (`scope`), or one on a route that takes no token at all.
 */
export const insufficientScope = (scope: string | undefined) =>
  new AppError(
    403,
    scope
      ? `This token lacks the ${scope} scope this route needs`
      : 'Personal access tokens cannot be used here: this route needs a login',
    { headers: { 'www-authenticate': `Bearer error="insufficient_scope"${scope ? `, scope="${scope}"` : ''}` } },
  );
export const notFound = (detail = 'Not found') => new AppError(404, detail);
export const conflict = (detail: string) => new AppError(409, detail);

/** A 422 for a rule the schema cannot express, in the same shape as schema validation failures. */
export const invalidField = (field: string, message: string, location = 'body') =>
  new AppError(422, `Validation failed: ${field}`, { errors: [{ location, field, message }] });
