// OAuth access tokens as every part of the platform checks them: the Helix API, IRC's
// `PASS oauth:<token>` and EventSub subscriptions. It lives here, below workers/, because the chat
// objects check tokens too and imports run one way (workers/ may import durable-objects/, never the
// reverse); workers/oauth/tokens.ts re-exports it with the code that issues tokens.
//
// Tokens are random; only their SHA-256 (hex) is stored, in oauth_tokens.token_hash, as session
// tokens are (sessions.ts). Scopes carry Twitch's names (docs/twitch-compat.md).
import { z } from 'zod';
import { hashSha256Hex } from '../../common/hashing.ts';

/** Twitch's scope names (dev.twitch.tv "Twitch Access Token Scopes"); the consent page describes each. */
export const TWITCH_SCOPES = {
  'analytics:read:extensions': 'View analytics data for your extensions',
  'analytics:read:games': 'View analytics data for your games',
  'bits:read': 'View Bits information for your channel',
  'channel:bot': 'Join your channel’s chatroom as a bot user',
  'channel:edit:commercial': 'Run commercials on your channel',
  'channel:manage:broadcast': 'Manage your channel’s broadcast configuration (title, category, tags)',
  'channel:manage:moderators': 'Add or remove the moderator role from users in your channel',
  'channel:manage:polls': 'Manage polls in your channel',
  'channel:manage:predictions': 'Manage predictions in your channel',
  'channel:manage:raids': 'Start and cancel raids from your channel',
  'channel:manage:redemptions': 'Manage Channel Points rewards and redemptions',
  'channel:manage:schedule': 'Manage your channel’s stream schedule',
  'channel:manage:videos': 'Manage your channel’s videos (delete past broadcasts)',
  'channel:manage:vips': 'Add or remove the VIP role from users in your channel',
  'channel:moderate': 'Perform moderation actions in a channel',
  'channel:read:editors': 'View the users with the editor role in your channel',
  'channel:read:goals': 'View your channel’s creator goals',
  'channel:read:hype_train': 'View Hype Train information for your channel',
  'channel:read:polls': 'View polls in your channel',
  'channel:read:predictions': 'View predictions in your channel',
  'channel:read:redemptions': 'View Channel Points rewards and redemptions',
  'channel:read:stream_key': 'View your stream key',
  'channel:read:subscriptions': 'View the subscribers of your channel',
  'channel:read:vips': 'View the VIPs of your channel',
  'chat:edit': 'Send chat messages (IRC)',
  'chat:read': 'Read chat messages (IRC)',
  'clips:edit': 'Create clips from a broadcast',
  openid: 'Sign you in to the app with your account (OpenID Connect user info)',
  'moderation:read': 'View your channel’s moderation data (moderators, bans)',
  'moderator:manage:announcements': 'Send announcements in channels where you moderate',
  'moderator:manage:automod': 'Manage messages held for review by AutoMod',
  'moderator:manage:banned_users': 'Ban and unban users in channels where you moderate',
  'moderator:manage:blocked_terms': 'Manage blocked terms in channels where you moderate',
  'moderator:manage:chat_messages': 'Delete chat messages in channels where you moderate',
  'moderator:manage:chat_settings': 'Manage chat settings in channels where you moderate',
  'moderator:read:banned_users': 'View banned users in channels where you moderate',
  'moderator:read:blocked_terms': 'View blocked terms in channels where you moderate',
  'moderator:read:chat_settings': 'View chat settings in channels where you moderate',
  'moderator:read:chatters': 'View the chatters in channels where you moderate',
  'moderator:read:followers': 'View the followers of channels where you moderate',
  'moderator:read:moderators': 'View the moderators of channels where you moderate',
  'moderator:read:vips': 'View the VIPs of channels where you moderate',
  'user:bot': 'Appear in chat as a bot',
  'user:edit': 'Manage your user object',
  'user:read:broadcast': 'View your broadcasting configuration',
  'user:read:chat': 'Receive chatroom messages and events',
  'user:read:email': 'View your email address',
  'user:read:emotes': 'View the emotes you may use',
  'user:read:follows': 'View the channels you follow',
  'user:read:moderated_channels': 'View the channels you moderate',
  'user:read:subscriptions': 'View your subscriptions to channels',
  'user:write:chat': 'Send chat messages as you',
  'whispers:read': 'Read your whispers',
} as const satisfies Record<string, string>;

export type TwitchScope = keyof typeof TWITCH_SCOPES;

export function isTwitchScope(scope: string): scope is TwitchScope {
  return Object.hasOwn(TWITCH_SCOPES, scope);
}

/** What a valid access token grants. userId is null for an app access token (client credentials). */
export interface AccessTokenInfo {
  userId: string | null;
  /** The user's login (username), null for an app access token. */
  login: string | null;
  clientId: string;
  scopes: string[];
  /** Epoch ms. */
  expiresAt: number;
  /** SHA-256 of the token: what a chat socket keeps to re-check the token later (never the token). */
  tokenHash: string;
}

/** Tokens longer than this are not ours (ours are 64 hex characters); refused before hashing. */
const MAX_TOKEN_LENGTH = 200;

const AccessTokenRow = z.object({
  user_id: z.string().nullable(),
  login: z.string().nullable(),
  client_id: z.string(),
  scopes: z.string(),
  expires_at: z.number(),
});
const ScopeList = z.array(z.string());
const TokenHashRow = z.object({ token_hash: z.string() });

export function hashOAuthToken(token: string): Promise<string> {
  return hashSha256Hex(token);
}

/** Parses a stored scope list (a JSON array of names). */
export function parseScopes(stored: string): string[] {
  return ScopeList.parse(JSON.parse(stored));
}

/** The grant behind an unexpired, unrevoked access token; null for anything else. */
export async function validateAccessToken(
  env: { DB: D1Database },
  token: string,
  now = Date.now(),
): Promise<AccessTokenInfo | null> {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return null;
  return validateAccessTokenHash(env.DB, await hashOAuthToken(token), now);
}

/** As validateAccessToken, for a caller that kept the hash. */
export async function validateAccessTokenHash(
  db: D1Database,
  tokenHash: string,
  now = Date.now(),
): Promise<AccessTokenInfo | null> {
  const row = await db
    .prepare(
      `SELECT g.user_id, u.username AS login, g.client_id, g.scopes, t.expires_at
       FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id LEFT JOIN users u ON u.id = g.user_id
       WHERE t.token_hash = ? AND t.kind = 'access' AND t.expires_at > ?`,
    )
    .bind(tokenHash, now)
    .first();
  if (row === null) return null;
  const parsed = AccessTokenRow.parse(row);
  return {
    userId: parsed.user_id,
    login: parsed.login,
    clientId: parsed.client_id,
    scopes: parseScopes(parsed.scopes),
    expiresAt: parsed.expires_at,
    tokenHash,
  };
}

/** Whether `token` carries `scope`; with several, whether it carries any of them. */
export function hasScope(token: Pick<AccessTokenInfo, 'scopes'>, ...scopes: TwitchScope[]): boolean {
  return scopes.some((scope) => token.scopes.includes(scope));
}

/** How many token hashes one findLiveAccessTokenHashes call may check (one bound JSON array). */
export const MAX_ACCESS_TOKEN_HASHES_PER_CHECK = 500;

/** Which of `tokenHashes` still name an unexpired, unrevoked access token: one query for all. */
export async function findLiveAccessTokenHashes(
  db: D1Database,
  tokenHashes: readonly string[],
  now = Date.now(),
): Promise<Set<string>> {
  if (tokenHashes.length > MAX_ACCESS_TOKEN_HASHES_PER_CHECK)
    throw new RangeError(`at most ${MAX_ACCESS_TOKEN_HASHES_PER_CHECK} token hashes per check`);
  if (tokenHashes.length === 0) return new Set();
  const rows = await db
    .prepare(
      `SELECT token_hash FROM oauth_tokens
       WHERE token_hash IN (SELECT value FROM json_each(?1)) AND kind = 'access' AND expires_at > ?2`,
    )
    .bind(JSON.stringify(tokenHashes), now)
    .all();
  return new Set(rows.results.map((row) => TokenHashRow.parse(row).token_hash));
}
