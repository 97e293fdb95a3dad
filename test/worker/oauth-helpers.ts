// Helpers for the OAuth and Helix tests: register an app through /api/v1, run the authorization
// code flow with PKCE as a client would (through the real Worker), and call Helix.
import { SELF } from 'cloudflare:test';
import { z } from 'zod';
import { encodeBase64Url } from '../../workers/shared/crypto.ts';
import { callApi, signUp, type TestSession } from './api-helpers.ts';

export const REDIRECT_URI = 'https://bot.example/callback';

const AppCreated = z.object({ client_id: z.string(), client_secret: z.string().nullable() });
export type TestApp = z.infer<typeof AppCreated>;

export async function registerTestApp(
  owner: TestSession,
  clientType: 'confidential' | 'public' = 'confidential',
): Promise<TestApp> {
  const res = await callApi('/developer/apps', {
    method: 'POST',
    token: owner.token,
    body: { name: 'Test bot', redirect_uris: [REDIRECT_URI], client_type: clientType },
  });
  if (res.status !== 201) throw new Error(`app registration failed: ${res.status} ${await res.text()}`);
  return AppCreated.parse(await res.json());
}

export async function createPkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = encodeBase64Url(crypto.getRandomValues(new Uint8Array(48)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  return { verifier, challenge: encodeBase64Url(digest) };
}

export function oauth(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`http://localhost/oauth2${path}`, init);
}

export function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

/** The user's "Authorize" on the consent page: the code from the redirect it answers. */
export async function approveAuthorization(user: TestSession, query: URLSearchParams): Promise<URL> {
  const res = await oauth('/authorize', {
    method: 'POST',
    headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: query.toString(), decision: 'allow' }),
  });
  if (res.status !== 200) throw new Error(`authorize failed: ${res.status} ${await res.text()}`);
  return new URL(z.object({ redirect_to: z.string() }).parse(await res.json()).redirect_to);
}

export const TokenAnswer = z.object({
  access_token: z.string(),
  refresh_token: z.string().optional(),
  expires_in: z.number(),
  scope: z.array(z.string()),
  token_type: z.literal('bearer'),
});

/** A user token with `scopes` for a fresh user and app (authorization code + PKCE). */
export async function createUserToken(
  scopes: string[],
  user?: TestSession,
): Promise<{ user: TestSession; app: TestApp; tokens: z.infer<typeof TokenAnswer> }> {
  const owner = user ?? (await signUp('helix'));
  const app = await registerTestApp(owner);
  const pkce = await createPkcePair();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: app.client_id,
    redirect_uri: REDIRECT_URI,
    scope: scopes.join(' '),
    state: 'xyz',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  });
  const redirect = await approveAuthorization(owner, query);
  const res = await oauth(
    '/token',
    form({
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret ?? '',
      code: redirect.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce.verifier,
    }),
  );
  if (res.status !== 200) throw new Error(`token failed: ${res.status} ${await res.text()}`);
  return { user: owner, app, tokens: TokenAnswer.parse(await res.json()) };
}

export function helix(
  path: string,
  auth: { clientId?: string; token?: string },
  init: { method?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (auth.clientId !== undefined) headers['Client-Id'] = auth.clientId;
  if (auth.token !== undefined) headers.Authorization = `Bearer ${auth.token}`;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  return SELF.fetch(`http://localhost/helix${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

export const HelixErrorBody = z.object({ error: z.string(), status: z.number(), message: z.string() });
export const TwitchOAuthError = z.object({ status: z.number(), message: z.string() });
