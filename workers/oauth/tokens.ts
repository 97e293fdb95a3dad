// Issuing and checking OAuth tokens (docs/twitch-compat.md). Checking lives in
// durable-objects/shared/oauth-tokens.ts, re-exported here: the Helix API, EventSub and the chat
// front import from this file; the chat objects import that one (imports run one way).
//
// A grant is what one user (or, for client credentials, the application itself) allowed one
// application; its access token and refresh token hang off it, so revoking either ends both, as
// Twitch's revoke ends the authorization. Refresh tokens rotate (each refresh deletes the one used).
import { z } from 'zod';
import { hashOAuthToken, parseScopes } from '../../durable-objects/shared/oauth-tokens.ts';
import { generateRandomToken } from '../shared/crypto.ts';

export {
  type AccessTokenInfo,
  findLiveAccessTokenHashes,
  hashOAuthToken,
  hasScope,
  isTwitchScope,
  MAX_ACCESS_TOKEN_HASHES_PER_CHECK,
  parseScopes,
  TWITCH_SCOPES,
  type TwitchScope,
  validateAccessToken,
  validateAccessTokenHash,
} from '../../durable-objects/shared/oauth-tokens.ts';

/** A user access token lives about 4 hours, as Twitch's do; an app access token about 60 days. */
export const USER_ACCESS_TOKEN_TTL_MS = 4 * 60 * 60 * 1000;
export const APP_ACCESS_TOKEN_TTL_MS = 60 * 24 * 60 * 60 * 1000;
/**
 * A refresh token expires 30 days after it was issued, as Twitch's do for public clients (we apply
 * it to every client: a refresh token nobody used for a month is a risk, not a convenience).
 */
export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * At most this many grants (tokens) live per user and application, and per application for its
 * own app tokens; past it the oldest is dropped (and its tokens stop working).
 */
export const MAX_GRANTS_PER_USER_AND_APP = 50;

/** The token endpoint's answer, Twitch's shape (id.twitch.tv/oauth2/token). */
export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  scope: string[];
  token_type: 'bearer';
}

const GrantRow = z.object({
  id: z.string(),
  client_id: z.string(),
  user_id: z.string().nullable(),
  scopes: z.string(),
});

/** Creates a grant and its tokens: a refresh token only for a user grant (client credentials has none). */
export async function issueTokens(
  db: D1Database,
  grant: { clientId: string; userId: string | null; scopes: readonly string[] },
  now = Date.now(),
): Promise<TokenResponse> {
  const grantId = crypto.randomUUID();
  const statements = [
    db
      .prepare('INSERT INTO oauth_grants (id, client_id, user_id, scopes, created_at) VALUES (?, ?, ?, ?, ?)')
      .bind(grantId, grant.clientId, grant.userId, JSON.stringify(grant.scopes), now),
  ];
  // Keeps one user's grants to one application, and one application's own (client credentials)
  // grants, bounded: a tool that logs in on every start must not grow the table forever.
  statements.push(
    db
      .prepare(
        `DELETE FROM oauth_grants WHERE id IN (
           SELECT id FROM oauth_grants WHERE client_id = ?1 AND user_id IS ?2
           ORDER BY created_at DESC, id LIMIT -1 OFFSET ?3)`,
      )
      .bind(grant.clientId, grant.userId, MAX_GRANTS_PER_USER_AND_APP),
  );
  const issued = await mintTokens(db, grantId, grant.userId !== null, now);
  await db.batch([...statements, ...issued.statements]);
  return { ...issued.response, scope: [...grant.scopes] };
}

async function mintTokens(
  db: D1Database,
  grantId: string,
  forUser: boolean,
  now: number,
): Promise<{ statements: D1PreparedStatement[]; response: Omit<TokenResponse, 'scope'> }> {
  const accessToken = generateRandomToken(15);
  const ttl = forUser ? USER_ACCESS_TOKEN_TTL_MS : APP_ACCESS_TOKEN_TTL_MS;
  const insert = db.prepare(
    'INSERT INTO oauth_tokens (token_hash, grant_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
  );
  const statements = [insert.bind(await hashOAuthToken(accessToken), grantId, 'access', now, now + ttl)];
  const response: Omit<TokenResponse, 'scope'> = {
    access_token: accessToken,
    expires_in: Math.floor(ttl / 1000),
    token_type: 'bearer',
  };
  if (forUser) {
    const refreshToken = generateRandomToken(25);
    statements.push(
      insert.bind(await hashOAuthToken(refreshToken), grantId, 'refresh', now, now + REFRESH_TOKEN_TTL_MS),
    );
    response.refresh_token = refreshToken;
  }
  return { statements, response };
}

export type RefreshOutcome =
  | { kind: 'refreshed'; tokens: TokenResponse }
  | { kind: 'invalid' }
  | { kind: 'wrong-client' };

/**
 * Trades a refresh token for a new access and refresh token of the same grant; the used refresh
 * token and the grant's old access tokens stop working (RFC 6749 section 6: "the authorization
 * server MAY revoke the old refresh token"). An expired or revoked refresh token is invalid.
 */
export async function refreshGrant(
  db: D1Database,
  clientId: string,
  refreshToken: string,
  now = Date.now(),
): Promise<RefreshOutcome> {
  if (refreshToken.length === 0 || refreshToken.length > 200) return { kind: 'invalid' };
  const hash = await hashOAuthToken(refreshToken);
  // Deleting first makes the token single-use even under two concurrent refreshes.
  const row = await db
    .prepare(
      `DELETE FROM oauth_tokens WHERE token_hash = ? AND kind = 'refresh' AND expires_at > ?
       RETURNING grant_id`,
    )
    .bind(hash, now)
    .first();
  if (row === null) return { kind: 'invalid' };
  const grantId = z.object({ grant_id: z.string() }).parse(row).grant_id;
  const grantRow = await db
    .prepare('SELECT id, client_id, user_id, scopes FROM oauth_grants WHERE id = ?')
    .bind(grantId)
    .first();
  if (grantRow === null) return { kind: 'invalid' };
  const grant = GrantRow.parse(grantRow);
  if (grant.client_id !== clientId) {
    // Someone else's refresh token: the grant is burnt, as a leaked token should be.
    await db.prepare('DELETE FROM oauth_grants WHERE id = ?').bind(grant.id).run();
    return { kind: 'wrong-client' };
  }
  const issued = await mintTokens(db, grant.id, true, now);
  await db.batch([
    db.prepare("DELETE FROM oauth_tokens WHERE grant_id = ? AND kind = 'access'").bind(grant.id),
    ...issued.statements,
  ]);
  return { kind: 'refreshed', tokens: { ...issued.response, scope: parseScopes(grant.scopes) } };
}

export type RevokeOutcome = { kind: 'revoked' } | { kind: 'invalid' };

/**
 * Revokes the grant behind an access or refresh token of `clientId` (id.twitch.tv/oauth2/revoke).
 * A token of another application is invalid, and left alone.
 */
export async function revokeToken(db: D1Database, clientId: string, token: string): Promise<RevokeOutcome> {
  if (token.length === 0 || token.length > 200) return { kind: 'invalid' };
  const row = await db
    .prepare(
      `DELETE FROM oauth_grants WHERE id = (
         SELECT g.id FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id
         WHERE t.token_hash = ? AND g.client_id = ?)
       RETURNING id`,
    )
    .bind(await hashOAuthToken(token), clientId)
    .first();
  return row === null ? { kind: 'invalid' } : { kind: 'revoked' };
}

/**
 * Ends every grant a user gave, for the caller's batch: log out everywhere and a password change
 * run it, as Twitch revokes a user's tokens when the password changes.
 */
export function prepareRevokeUserGrants(db: D1Database, userId: string): D1PreparedStatement {
  return db.prepare('DELETE FROM oauth_grants WHERE user_id = ?').bind(userId);
}
