// One error taxonomy for every HTTP surface of the Worker. Expected failures throw ApiError; the
// app's onError turns it into `{error: {code, message, details?}}` with its status. Anything else
// is a bug: logged with context, answered 500.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { log } from '../../common/log.ts';

export type ErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'payload_too_large'
  | 'rate_limited'
  | 'internal'
  | 'unavailable';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class ApiError extends HTTPException {
  readonly code: string;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode | (string & {}),
    message: string,
    options: { details?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(status, { message });
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, 'bad_request', message, { details });
export const unauthorized = (message = 'Authentication required') =>
  new ApiError(401, 'unauthorized', message);
export const forbidden = (message = 'You may not do that') => new ApiError(403, 'forbidden', message);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, details?: unknown) =>
  new ApiError(409, 'conflict', message, { details });
export const unprocessable = (message: string, details?: unknown) =>
  new ApiError(422, 'unprocessable', message, { details });
export const rateLimited = (retryAfterSeconds: number, message = 'Too many requests') =>
  new ApiError(429, 'rate_limited', message, {
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
  });
export const unavailable = (message: string, retryAfterSeconds?: number) =>
  new ApiError(503, 'unavailable', message, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'unavailable',
};

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** The single onError of every Hono app in the Worker. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    const res = c.json(errorBody(err.code, err.message, err.details), err.status);
    if (err.retryAfterSeconds !== undefined) res.headers.set('Retry-After', String(err.retryAfterSeconds));
    return res;
  }
  if (err instanceof HTTPException) {
    // Raised by Hono itself (e.g. a body over the size limit, malformed JSON in a validator).
    const status = err.status as ContentfulStatusCode;
    const code = CODE_BY_STATUS[status] ?? 'internal';
    return c.json(errorBody(code, err.message || code), status);
  }
  log.error('unhandled_error', { method: c.req.method, path: new URL(c.req.url).pathname, error: err });
  return c.json(errorBody('internal', 'Internal error'), 500);
}

export function handleNotFound(c: Context): Response {
  return c.json(errorBody('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
}
