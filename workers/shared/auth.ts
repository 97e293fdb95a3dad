// Bearer-token sessions. Tokens are random; only their SHA-256 (hex) is stored in sessions.token_hash,
// so a leaked database does not leak usable tokens.
import { createMiddleware } from 'hono/factory';
import { findUserByToken, hashToken, type SessionUser } from '../../durable-objects/shared/sessions.ts';
import { generateRandomToken } from './crypto.ts';
import { unauthorized } from './errors.ts';

export { findUserByToken, hashToken };
export type AuthUser = SessionUser;

/** Context variables after requireUser. */
export interface AuthVariables {
  user: AuthUser;
}

/** Context variables after optionalUser: anonymous requests get null. */
export interface OptionalAuthVariables {
  user: AuthUser | null;
}

export const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** What the session list shows of the client; long user agents are cut, not refused. */
export const MAX_USER_AGENT_LENGTH = 200;

/** Creates a session and returns its token (the only time the token exists in clear). */
export async function createSession(
  db: D1Database,
  userId: string,
  now = Date.now(),
  userAgent = '',
): Promise<string> {
  const token = generateRandomToken();
  await db
    .prepare(
      'INSERT INTO sessions (token_hash, user_id, created_at, expires_at, user_agent) VALUES (?, ?, ?, ?, ?)',
    )
    .bind(
      await hashToken(token),
      userId,
      now,
      now + SESSION_TTL_MS,
      userAgent.slice(0, MAX_USER_AGENT_LENGTH),
    )
    .run();
  return token;
}

export async function deleteSession(db: D1Database, token: string): Promise<void> {
  await db
    .prepare('DELETE FROM sessions WHERE token_hash = ?')
    .bind(await hashToken(token))
    .run();
}

/**
 * A session's public id: the first 32 hex digits (128 bits) of its token hash. It names the
 * session in the list without being a credential: the token cannot be recovered from it.
 */
export const SESSION_ID_LENGTH = 32;

export async function readSessionId(token: string): Promise<string> {
  return (await hashToken(token)).slice(0, SESSION_ID_LENGTH);
}

/** The token of `Authorization: Bearer <token>`, or null. */
export function readBearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

export const requireUser = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  const token = readBearerToken(c.req.header('Authorization'));
  const user = token ? await findUserByToken(c.env.DB, token) : null;
  if (!user) throw unauthorized(token ? 'Invalid or expired token' : 'Authentication required');
  c.set('user', user);
  await next();
});

/** Resolves the user when a valid token is present; a missing or stale token is anonymous, not an error. */
export const optionalUser = createMiddleware<{ Bindings: Env; Variables: OptionalAuthVariables }>(
  async (c, next) => {
    const token = readBearerToken(c.req.header('Authorization'));
    c.set('user', token ? await findUserByToken(c.env.DB, token) : null);
    await next();
  },
);
