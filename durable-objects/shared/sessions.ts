// The bearer-token lookup, shared by the Worker's auth middleware and the chat objects (a chat
// socket may authenticate with its first frame or IRC's PASS, after the upgrade). It lives here
// because imports run one way: workers/ may import durable-objects/, never the reverse.
import { hashSha256Hex } from '../../common/hashing.ts';

export interface SessionUser {
  id: string;
  username: string;
  channel_id: string;
}

/** Tokens are random; only the SHA-256 (hex) of a token is stored, in sessions.token_hash. */
export function hashToken(token: string): Promise<string> {
  return hashSha256Hex(token);
}

/** The user behind an unexpired session token, with their channel; null for anything else. */
export async function findUserByToken(db: D1Database, token: string): Promise<SessionUser | null> {
  if (token.length === 0 || token.length > 200) return null;
  return db
    .prepare(
      `SELECT u.id, u.username, c.id AS channel_id
       FROM sessions s JOIN users u ON u.id = s.user_id JOIN channels c ON c.user_id = u.id
       WHERE s.token_hash = ? AND s.expires_at > ?`,
    )
    .bind(await hashToken(token), Date.now())
    .first<SessionUser>();
}
