// The bearer-token lookup, shared by the Worker's auth middleware and the chat objects (a chat
// socket may authenticate with its first frame or IRC's PASS, after the upgrade). It lives here
// because imports run one way: workers/ may import durable-objects/, never the reverse.
import { z } from 'zod';
import { hashSha256Hex } from '../../common/hashing.ts';

const SessionUserRow = z.object({ id: z.string(), username: z.string(), channel_id: z.string() });
export type SessionUser = z.infer<typeof SessionUserRow>;
const TokenHashRow = z.object({ token_hash: z.string() });

/** Tokens are random; only the SHA-256 (hex) of a token is stored, in sessions.token_hash. */
export function hashToken(token: string): Promise<string> {
  return hashSha256Hex(token);
}

/** The user behind an unexpired session token, with their channel; null for anything else. */
export async function findUserByToken(db: D1Database, token: string): Promise<SessionUser | null> {
  if (token.length === 0 || token.length > 200) return null;
  return findUserByTokenHash(db, await hashToken(token));
}

/** As findUserByToken, for a caller that keeps the hash (chat sockets re-check it, below). */
export async function findUserByTokenHash(db: D1Database, tokenHash: string): Promise<SessionUser | null> {
  const row = await db
    .prepare(
      `SELECT u.id, u.username, c.id AS channel_id
       FROM sessions s JOIN users u ON u.id = s.user_id JOIN channels c ON c.user_id = u.id
       WHERE s.token_hash = ? AND s.expires_at > ?`,
    )
    .bind(tokenHash, Date.now())
    .first();
  return row === null ? null : SessionUserRow.parse(row);
}

/** How many token hashes one findLiveTokenHashes call may check (one bound JSON array). */
export const MAX_TOKEN_HASHES_PER_CHECK = 500;

/**
 * Which of `tokenHashes` still name an unexpired session: one query for all of them, so a chat
 * shard can re-check every signed-in socket it holds (log-out-everywhere, a password change, a
 * revoked session and expiry all delete or outdate the row). At most MAX_TOKEN_HASHES_PER_CHECK.
 */
export async function findLiveTokenHashes(
  db: D1Database,
  tokenHashes: readonly string[],
): Promise<Set<string>> {
  if (tokenHashes.length > MAX_TOKEN_HASHES_PER_CHECK)
    throw new RangeError(`at most ${MAX_TOKEN_HASHES_PER_CHECK} token hashes per check`);
  if (tokenHashes.length === 0) return new Set();
  const rows = await db
    .prepare(
      'SELECT token_hash FROM sessions WHERE token_hash IN (SELECT value FROM json_each(?1)) AND expires_at > ?2',
    )
    .bind(JSON.stringify(tokenHashes), Date.now())
    .all();
  return new Set(rows.results.map((row) => TokenHashRow.parse(row).token_hash));
}
