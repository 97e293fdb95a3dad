// Helpers for the API tests: every call goes through the real Worker (SELF) with real D1 and DOs.
import { SELF } from 'cloudflare:test';
import { z } from 'zod';

const BASE = 'http://localhost/api/v1';
let ipCounter = 0;

/** A fresh client IP, so per-IP rate limits of one test never leak into another. */
export function createTestIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250) % 250}.${ipCounter % 250}.${Math.floor(Math.random() * 1e6)}`;
}

export function createUsername(prefix = 'user'): string {
  return `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

export interface CallOptions {
  method?: string;
  token?: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  ip?: string;
}

export async function callApi(path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {
    'CF-Connecting-IP': options.ip ?? createTestIp(),
    ...options.headers,
  };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined || options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  return SELF.fetch(`${BASE}${path}`, { method: options.method ?? 'GET', headers, body });
}

export const ErrorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export async function readError(res: Response): Promise<z.infer<typeof ErrorResponse>['error']> {
  return ErrorResponse.parse(await res.json()).error;
}

const SessionResponse = z.object({
  token: z.string(),
  user: z.object({ id: z.string(), username: z.string() }),
  channel: z.looseObject({ id: z.string(), name: z.string() }),
});
export type TestSession = z.infer<typeof SessionResponse> & { password: string };

export async function signUp(prefix = 'user', options: { ip?: string } = {}): Promise<TestSession> {
  const username = createUsername(prefix);
  const password = 'correct horse battery';
  const res = await callApi('/auth/signup', {
    method: 'POST',
    body: { username, password },
    ...(options.ip === undefined ? {} : { ip: options.ip }),
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
  return { ...SessionResponse.parse(await res.json()), password };
}
