// The signed-in account's sessions and password, under /auth: list the sessions, revoke one, log
// out everywhere, and change the password (which ends every other session, so a stolen token
// stops working when the owner changes the password). Both "log out everywhere" and a password
// change also forget the account's known networks but the asking one (lib/login-guard.ts), so a
// network that knew the old state is no longer spared the account's login lock. Both also end
// every OAuth grant the account gave (workers/oauth/tokens.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { prepareRevokeUserGrants } from '../../oauth/tokens.ts';
import {
  hashToken,
  readBearerToken,
  readSessionId,
  requireUser,
  SESSION_ID_LENGTH,
} from '../../shared/auth.ts';
import { ApiError, notFound, unauthorized } from '../../shared/errors.ts';
import { readRateLimit } from '../../shared/limits.ts';
import { hashPassword, verifyPassword } from '../../shared/passwords.ts';
import { enforceRateLimit } from '../../shared/rate-limit.ts';
import { prepareForgetNetworks } from '../lib/login-guard.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
  readClientNetwork,
} from '../lib/router.ts';
import { Password } from './auth.ts';

/** The most sessions one list returns: sessions last 30 days, and logins are rate-limited. */
const MAX_LISTED_SESSIONS = 100;

const SessionInfo = z
  .object({
    id: z.string(),
    created_at: z.string(),
    expires_at: z.string(),
    user_agent: z.string(),
    current: z.boolean(),
  })
  .openapi('SessionInfo');
const SessionRow = z.object({
  id: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
  user_agent: z.string(),
});
const ChangePassword = z
  .object({ current_password: z.string().min(1).max(128), new_password: Password })
  .openapi('ChangePassword');
const SessionParams = z.object({ id: pathParam('id', 'A session id from GET /auth/sessions') });

/** The id of the session this request came with (requireUser has checked the token). */
async function readCurrentSessionId(header: string | undefined): Promise<string> {
  const token = readBearerToken(header);
  if (token === null) throw unauthorized();
  return readSessionId(token);
}

export const sessionsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/sessions',
      tags: ['auth'],
      summary: "The signed-in account's sessions, newest first",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      responses: {
        200: jsonContent(z.object({ data: z.array(SessionInfo) }).openapi('SessionList'), 'The sessions'),
        ...describeErrors(401),
      },
    }),
    async (c) => {
      const current = await readCurrentSessionId(c.req.header('Authorization'));
      const { results } = await c.env.DB.prepare(
        `SELECT substr(token_hash, 1, ${SESSION_ID_LENGTH}) AS id, created_at, expires_at, user_agent
         FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC LIMIT ?`,
      )
        .bind(c.var.user.id, Date.now(), MAX_LISTED_SESSIONS)
        .all();
      const data = results.map((raw) => {
        const row = SessionRow.parse(raw);
        return {
          id: row.id,
          created_at: new Date(row.created_at).toISOString(),
          expires_at: new Date(row.expires_at).toISOString(),
          user_agent: row.user_agent,
          current: row.id === current,
        };
      });
      return c.json({ data }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/sessions/{id}',
      tags: ['auth'],
      summary: 'Revoke one of your sessions (its token stops working at once)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: SessionParams },
      responses: { 204: { description: 'Revoked' }, ...describeErrors(401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      if (!/^[0-9a-f]+$/.test(id) || id.length !== SESSION_ID_LENGTH) throw notFound('Session');
      // Scoped to the caller: another account's session id is "not found", never revoked.
      const result = await c.env.DB.prepare(
        `DELETE FROM sessions WHERE user_id = ? AND substr(token_hash, 1, ${SESSION_ID_LENGTH}) = ?`,
      )
        .bind(c.var.user.id, id)
        .run();
      if (result.meta.changes === 0) throw notFound('Session');
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/logout-all',
      tags: ['auth'],
      summary: 'Log out everywhere: end every session of the account, this one included',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      responses: { 204: { description: 'Every session ended' }, ...describeErrors(401) },
    }),
    async (c) => {
      const db = c.env.DB;
      await db.batch([
        db.prepare('DELETE FROM sessions WHERE user_id = ?').bind(c.var.user.id),
        // Tokens the account gave to applications end too (docs/twitch-compat.md).
        prepareRevokeUserGrants(db, c.var.user.id),
        ...(await prepareForgetNetworks(db, c.var.user.id, readClientNetwork(c), Date.now())),
      ]);
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/password',
      tags: ['auth'],
      summary: 'Change the password; every other session ends',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(ChangePassword) },
      responses: { 204: { description: 'Changed' }, ...describeErrors(400, 401, 403, 429) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = c.var.user;
      // A stolen token must not become a way to guess the password: attempts are counted.
      await enforceRateLimit(
        c.env,
        readRateLimit(c.env, 'password_change_per_account'),
        user.id,
        'Too many password changes for this account; try again after Retry-After seconds',
      );
      const row = await c.env.DB.prepare('SELECT password_hash FROM users WHERE id = ?')
        .bind(user.id)
        .first();
      const stored = z.object({ password_hash: z.string() }).parse(row);
      if (!(await verifyPassword(body.current_password, stored.password_hash))) {
        throw new ApiError(403, 'wrong_password', 'The current password is wrong');
      }
      const token = readBearerToken(c.req.header('Authorization'));
      if (token === null) throw unauthorized();
      const db = c.env.DB;
      await db.batch([
        db
          .prepare('UPDATE users SET password_hash = ? WHERE id = ?')
          .bind(await hashPassword(body.new_password), user.id),
        db
          .prepare('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?')
          .bind(user.id, await hashToken(token)),
        prepareRevokeUserGrants(db, user.id),
        ...(await prepareForgetNetworks(db, user.id, readClientNetwork(c), Date.now())),
      ]);
      return c.body(null, 204);
    },
  );
