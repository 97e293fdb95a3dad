// How the /oauth2/ endpoints read their parameters and answer errors, as id.twitch.tv/oauth2/ does:
// parameters come in the query string or an application/x-www-form-urlencoded body (RFC 6749
// section 4.1.3; Twitch's own examples put them in the query), and errors are `{status, message}`
// JSON with the HTTP status, not this API's `{error: {...}}` body (docs/twitch-compat.md).
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isTwitchScope } from './tokens.ts';

/** A /oauth2/ body larger than this is refused before it is read (parameters are a few hundred bytes). */
export const MAX_OAUTH_BODY_BYTES = 16 * 1024;
/** At most this many scopes in one request (Twitch defines about 80). */
export const MAX_SCOPES_PER_REQUEST = 100;

/** Twitch's OAuth error body: `{"status": 400, "message": "invalid client"}`. */
export function twitchOAuthError(c: Context, status: ContentfulStatusCode, message: string): Response {
  return c.json({ status, message }, status);
}

/** The request's parameters: the query string, overridden by a form body's fields. */
export async function readOAuthParams(c: Context): Promise<URLSearchParams> {
  const params = new URLSearchParams(new URL(c.req.url).search);
  const type = c.req.header('Content-Type') ?? '';
  if (c.req.method === 'POST' && type.startsWith('application/x-www-form-urlencoded')) {
    for (const [key, value] of new URLSearchParams(await c.req.text())) params.set(key, value);
  }
  return params;
}

export type ScopeParse = { ok: true; scopes: string[] } | { ok: false; invalid: string };

/** A space-separated scope list (RFC 6749 section 3.3); every name must be one of Twitch's. */
export function parseScopeParam(value: string | null): ScopeParse {
  const names = [...new Set((value ?? '').split(/[\s+]+/).filter((name) => name.length > 0))];
  if (names.length > MAX_SCOPES_PER_REQUEST) return { ok: false, invalid: 'too many scopes' };
  for (const name of names) if (!isTwitchScope(name)) return { ok: false, invalid: name.slice(0, 100) };
  return { ok: true, scopes: names };
}
