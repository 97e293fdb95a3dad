// The one way the app talks to /api/v1: bearer token from localStorage, JSON (or form) bodies, responses
// parsed with a schema, and every failure turned into an ApiRequestError carrying the API's
// `{error: {code, message}}` so pages can show the message as is.
import type * as z from 'zod/mini';
import { ErrorBodySchema } from './schemas.ts';

const TOKEN_KEY = 'edgestream.token';
const API_BASE = '/api/v1';
// A GET answered 429 is retried once after Retry-After when the wait is short enough that the
// viewer would rather wait than see an error; longer waits surface as an error with the delay.
const MAX_AUTOMATIC_RETRY_SECONDS = 5;

export class ApiRequestError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function readToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function writeToken(token: string | null): void {
  if (token === null) localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

type RequestOptions = {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** JSON-encoded, except a FormData, which is sent as multipart/form-data. */
  body?: unknown;
  signal?: AbortSignal;
};

export async function requestApi<S extends z.ZodMiniType>(
  path: string,
  schema: S,
  options: RequestOptions = {},
): Promise<z.infer<S>> {
  const method = options.method ?? 'GET';
  const response = await sendRequest(path, method, options);
  if (response.status === 429 && method === 'GET') {
    const wait = parseRetryAfter(response.headers.get('Retry-After'));
    if (wait !== undefined && wait <= MAX_AUTOMATIC_RETRY_SECONDS) {
      await waitSeconds(wait, options.signal);
      return readResponse(await sendRequest(path, method, options), schema);
    }
  }
  return readResponse(response, schema);
}

async function sendRequest(path: string, method: string, options: RequestOptions): Promise<Response> {
  const headers = new Headers({ Accept: 'application/json' });
  const token = readToken();
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  const init: RequestInit = { method, headers };
  if (options.signal) init.signal = options.signal;
  // A form (file uploads) goes as multipart: the browser writes the Content-Type with its boundary.
  if (options.body instanceof FormData) {
    init.body = options.body;
  } else if (options.body !== undefined) {
    headers.set('Content-Type', 'application/json');
    init.body = JSON.stringify(options.body);
  }
  try {
    return await fetch(`${API_BASE}${path}`, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiRequestError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }
}

async function readResponse<S extends z.ZodMiniType>(response: Response, schema: S): Promise<z.infer<S>> {
  const text = await response.text();
  const json = parseJson(text);
  if (!response.ok) {
    const parsed = ErrorBodySchema.safeParse(json);
    const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
    if (parsed.success) {
      throw new ApiRequestError(
        response.status,
        parsed.data.error.code,
        parsed.data.error.message,
        retryAfter,
      );
    }
    throw new ApiRequestError(
      response.status,
      'http_error',
      `Request failed (${response.status}).`,
      retryAfter,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ApiRequestError(
      response.status,
      'unexpected_response',
      'The server sent an unexpected answer.',
    );
  }
  return parsed.data;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date.
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function waitSeconds(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, seconds * 1000);
    signal?.addEventListener('abort', () => {
      window.clearTimeout(timer);
      reject(new DOMException('Aborted', 'AbortError'));
    });
  });
}

export function describeError(error: unknown): string {
  if (error instanceof ApiRequestError) {
    if (error.status === 429 && error.retryAfterSeconds !== undefined) {
      return `${error.message} Try again in ${Math.ceil(error.retryAfterSeconds)} s.`;
    }
    return error.message;
  }
  return error instanceof Error ? error.message : 'Something went wrong.';
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiRequestError && error.status === 404;
}
