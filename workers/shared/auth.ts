// Bearer-token sessions. Tokens are random; only their SHA-256 (hex) is stored in sessions.token_hash,
// so a leaked database does not leak usable tokens.
import { createMiddleware } from 'hono/factory';
import { findUserByToken, hashToken, type SessionUser } from '../../durable-objects/shared/sessions.ts';
import { generateRandomToken } from './crypto.ts';
import { unauthorized } from './errors.ts';

export { findUserByToken };
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

/** Creates a session and returns its token (the only time the token exists in clear). */
export async function createSession(db: D1Database, userId: string, now = Date.now()): Promise<string> {
  const token = generateRandomToken();
  await db
    .prepare('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
    .bind(await hashToken(token), userId, now, now + SESSION_TTL_MS)
    .run();
  return token;
}

export async function deleteSession(db: D1Database, token: string): Promise<void> {
  await db
    .prepare('DELETE FROM sessions WHERE token_hash = ?')
    .bind(await hashToken(token))
    .run();
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
