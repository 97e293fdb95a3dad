// The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636): the checks GET
// /oauth2/authorize makes before the consent page shows, the code the user's "Authorize" creates,
// and the code's exchange at /oauth2/token.
import { z } from 'zod';
import { hashSha256Hex } from '../../common/hashing.ts';
import { encodeBase64Url, generateRandomToken } from '../shared/crypto.ts';
import { findApp, type OAuthApp } from './apps.ts';
import { parseScopeParam } from './params.ts';

/** A code is good for 10 minutes, once (RFC 6749 section 4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"). */
export const AUTHORIZATION_CODE_TTL_MS = 10 * 60 * 1000;

export interface AuthorizationRequest {
  app: OAuthApp;
  redirectUri: string;
  scopes: string[];
  state: string | null;
  codeChallenge: string | null;
  /** OpenID Connect's nonce, returned in the id_token (id-token.ts). */
  nonce: string | null;
}

/**
 * What is wrong with an authorization request. 'invalid-client' and 'bad-redirect' are answered
 * with an error page, never a redirect (RFC 6749 section 4.1.2.1: the server "MUST NOT
 * automatically redirect the user-agent to the invalid redirection URI"); the others are sent
 * back to the (registered) redirect URI as `error=`.
 */
export type AuthorizationCheck =
  | { kind: 'ok'; request: AuthorizationRequest }
  | { kind: 'invalid-client' }
  | { kind: 'bad-redirect' }
  | { kind: 'redirect-error'; redirectUri: string; error: string; description: string; state: string | null };

/** A PKCE S256 challenge is base64url(SHA-256(verifier)): 43 characters (RFC 7636 section 4.2). */
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** A nonce is the client's opaque string: printable ASCII, bounded so the stored row stays small. */
const NONCE = /^[\x21-\x7e]{1,255}$/;
/** RFC 7636 section 4.1: code_verifier = 43*128unreserved. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export async function checkAuthorizationRequest(
  db: D1Database,
  params: URLSearchParams,
): Promise<AuthorizationCheck> {
  const app = await findApp(db, params.get('client_id') ?? '');
  if (app === null) return { kind: 'invalid-client' };
  const redirectUri = params.get('redirect_uri') ?? '';
  // Exact string comparison (RFC 6749 section 3.1.2.3; OAuth 2.0 Security BCP section 4.1.3).
  if (!app.redirectUris.includes(redirectUri)) return { kind: 'bad-redirect' };
  const state = params.get('state')?.slice(0, 500) ?? null;
  const fail = (error: string, description: string): AuthorizationCheck => ({
    kind: 'redirect-error',
    redirectUri,
    error,
    description,
    state,
  });
  if (params.get('response_type') !== 'code')
    return fail('unsupported_response_type', 'response_type must be code');
  const scopes = parseScopeParam(params.get('scope'));
  if (!scopes.ok) return fail('invalid_scope', `unknown scope: ${scopes.invalid}`);
  const codeChallenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (codeChallenge !== null) {
    // "plain" protects nothing once the request is seen; S256 only (RFC 7636 section 4.2).
    if (method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    if (!CODE_CHALLENGE.test(codeChallenge)) return fail('invalid_request', 'malformed code_challenge');
  } else if (app.clientType === 'public') {
    // A public client cannot keep a secret: PKCE is what binds the code to it (RFC 7636 section 1).
    return fail('invalid_request', 'code_challenge required for public clients');
  }
  const nonce = params.get('nonce');
  if (nonce !== null && !NONCE.test(nonce)) return fail('invalid_request', 'malformed nonce');
  return { kind: 'ok', request: { app, redirectUri, scopes: scopes.scopes, state, codeChallenge, nonce } };
}

/** The redirect that answers an authorization request (RFC 6749 section 4.1.2). */
export function buildRedirect(redirectUri: string, fields: Record<string, string | null>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(fields)) if (value !== null) url.searchParams.set(key, value);
  return url.toString();
}

/** Creates a code for an approved request and returns the redirect that carries it. */
export async function createAuthorizationCode(
  db: D1Database,
  request: AuthorizationRequest,
  userId: string,
  now = Date.now(),
): Promise<string> {
  const code = generateRandomToken(15);
  // Codes nobody redeemed are swept here, so the table holds at most 10 minutes of consents.
  await db.batch([
    db.prepare('DELETE FROM oauth_codes WHERE expires_at <= ?').bind(now),
    db
      .prepare(
        `INSERT INTO oauth_codes (code_hash, client_id, user_id, scopes, redirect_uri, code_challenge, nonce, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        await hashSha256Hex(code),
        request.app.clientId,
        userId,
        JSON.stringify(request.scopes),
        request.redirectUri,
        request.codeChallenge,
        request.nonce,
        now,
        now + AUTHORIZATION_CODE_TTL_MS,
      ),
  ]);
  return buildRedirect(request.redirectUri, { code, scope: request.scopes.join(' '), state: request.state });
}

const CodeRow = z.object({
  client_id: z.string(),
  user_id: z.string(),
  scopes: z.string(),
  redirect_uri: z.string(),
  code_challenge: z.string().nullable(),
  nonce: z.string().nullable(),
});

export type CodeExchange =
  | { kind: 'ok'; userId: string; scopes: string[]; nonce: string | null }
  | { kind: 'invalid' };

/**
 * Redeems a code: it is deleted whatever happens next, so a code is tried once (RFC 6749 section
 * 4.1.2: "The client MUST NOT use the authorization code more than once"), even by an attacker
 * who lacks the PKCE verifier.
 */
export async function redeemAuthorizationCode(
  db: D1Database,
  app: OAuthApp,
  code: string,
  redirectUri: string | null,
  codeVerifier: string | null,
  now = Date.now(),
): Promise<CodeExchange> {
  if (code.length === 0 || code.length > 200) return { kind: 'invalid' };
  const row = await db
    .prepare(
      `DELETE FROM oauth_codes WHERE code_hash = ? AND expires_at > ?
       RETURNING client_id, user_id, scopes, redirect_uri, code_challenge, nonce`,
    )
    .bind(await hashSha256Hex(code), now)
    .first();
  if (row === null) return { kind: 'invalid' };
  const stored = CodeRow.parse(row);
  if (stored.client_id !== app.clientId) return { kind: 'invalid' };
  // RFC 6749 section 4.1.3: redirect_uri must be identical to the one of the authorization request.
  if (redirectUri !== stored.redirect_uri) return { kind: 'invalid' };
  if (stored.code_challenge !== null) {
    // RFC 7636 section 4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge.
    if (codeVerifier === null || !CODE_VERIFIER.test(codeVerifier)) return { kind: 'invalid' };
    const digest = new Uint8Array(
      await crypto.subtle.digest('SHA-256', new TextEncoder().encode(codeVerifier)),
    );
    if (encodeBase64Url(digest) !== stored.code_challenge) return { kind: 'invalid' };
  }
  return {
    kind: 'ok',
    userId: stored.user_id,
    scopes: z.array(z.string()).parse(JSON.parse(stored.scopes)),
    nonce: stored.nonce,
  };
}
