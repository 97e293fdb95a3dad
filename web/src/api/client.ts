// The one way the app talks to /api/v1: Hono's typed client over the API's own app type (`ApiApp`,
// workers/api/index.ts), so paths, parameters, bodies and answers are checked by the compiler
// against the API's zod schemas instead of a hand-kept copy. Only types cross over (`import type`):
// no Worker code is bundled. Every request carries the bearer token from localStorage; every
// failure becomes an ApiRequestError carrying the API's `{error: {code, message}}` so pages can
// show the message as is.
import type { ApiApp } from '@edgestream/api';
import { type ClientResponse, hc, parseResponse } from 'hono/client';
import type { StatusCode } from 'hono/utils/http-status';
import * as z from 'zod/mini';

const TOKEN_KEY = 'edgestream.token';
const API_BASE = '/api/v1';
// A GET answered 429 is retried once after Retry-After when the wait is short enough that the
// viewer would rather wait than see an error; longer waits surface as an error with the delay.
const MAX_AUTOMATIC_RETRY_SECONDS = 5;

/** The API's error body (workers/shared/errors.ts), parsed before its message is shown. */
const ErrorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.optional(z.unknown()) }),
});

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

/**
 * fetch for the typed client: adds the bearer token, retries a short 429 on GETs, and turns a
 * network failure into an ApiRequestError (an abort stays an AbortError).
 */
async function sendRequest(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json');
  const token = readToken();
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  const request = { ...init, headers };
  const response = await fetchOrThrow(input, request);
  if (response.status === 429 && (init.method ?? 'GET').toUpperCase() === 'GET') {
    const wait = parseRetryAfter(response.headers.get('Retry-After'));
    if (wait !== undefined && wait <= MAX_AUTOMATIC_RETRY_SECONDS) {
      await waitSeconds(wait, init.signal ?? undefined);
      return fetchOrThrow(input, request);
    }
  }
  return response;
}

async function fetchOrThrow(input: RequestInfo | URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(input, init);
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiRequestError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }
}

/**
 * The API, typed: `api.channels[':id'].$get({ param: { id: encodeURIComponent(name) } })`; read
 * answers with readApi. The client puts path parameters into the URL as given, so callers encode
 * them (a name from the address bar must not become `../` or a query).
 */
export const api = hc<ApiApp>(new URL(API_BASE, window.location.origin).toString(), { fetch: sendRequest });

/**
 * The answer's body as the API declares it for its success statuses (its zod schema's type),
 * or an ApiRequestError for any other status.
 */
export async function readApi<R extends ClientResponse<unknown, StatusCode, string>>(request: Promise<R>) {
  const response = await request;
  if (!response.ok) throw await readError(response);
  return parseResponse(response);
}

async function readError(response: ClientResponse<unknown, StatusCode, string>): Promise<ApiRequestError> {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  const text = await response.text().catch(() => '');
  const parsed = ErrorBodySchema.safeParse(parseJson(text));
  if (parsed.success) {
    return new ApiRequestError(
      response.status,
      parsed.data.error.code,
      parsed.data.error.message,
      retryAfter,
    );
  }
  return new ApiRequestError(
    response.status,
    'http_error',
    `Request failed (${response.status}).`,
    retryAfter,
  );
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
