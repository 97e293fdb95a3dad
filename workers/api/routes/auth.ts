// Sign up, log in, log out. Signing up also creates the user's channel (name = username, stream
// key version 1), so every user can go live without another step. Signup and login limits come
// from wrangler.toml's LIMITS (workers/shared/limits.ts); login throttling is lib/login-guard.ts.
// The account's own sessions and its password are routes/sessions.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN } from '../../../protocol/limits.ts';
import { createSession, deleteSession, readBearerToken, requireUser } from '../../shared/auth.ts';
import { ApiError, conflict, unauthorized } from '../../shared/errors.ts';
import { readRateLimit } from '../../shared/limits.ts';
import { hashPassword, spendPasswordVerificationTime, verifyPassword } from '../../shared/passwords.ts';
import { enforceRateLimit } from '../../shared/rate-limit.ts';
import { prepareSearchIndexRefresh } from '../../shared/search-index.ts';
import { deriveStreamKey, hashStreamKey } from '../../shared/stream-keys.ts';
import {
  accountSubject,
  admitLoginAttempt,
  enforceLoginRateLimits,
  isKnownNetwork,
  knownNetworkSubject,
  prepareRememberNetwork,
  recordLoginSuccess,
  refundLoginAttempt,
} from '../lib/login-guard.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  readClientNetwork,
  readClientNetworkBlock,
} from '../lib/router.ts';
import { ChannelSchema, findChannelOfUser, toUser, UserRow, UserSchema } from '../lib/views.ts';

/**
 * Names that a channel page at /{name} would shadow or be shadowed by: the web app's own routes and
 * the Worker's top-level paths (see run_worker_first in wrangler.toml), plus names that would pass
 * for staff. Compared case-insensitively, as usernames are unique without case.
 */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
  'activate',
  'admin',
  'api',
  'auth',
  'clip',
  'clips',
  'dashboard',
  'directory',
  'eventsub',
  'helix',
  'internal',
  'irc',
  'live',
  'login',
  'media',
  'metrics',
  'oauth2',
  'overlay',
  'search',
  'settings',
  'signup',
  'videos',
  'vod',
  'ws',
]);

const Username = z
  .string()
  .regex(new RegExp(`^${USERNAME_PATTERN}$`), 'Usernames are 3-25 letters, digits or underscores')
  .openapi({ example: 'ninja_fan' });
export const Password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH);
const Credentials = z.object({ username: Username, password: Password }).openapi('Credentials');
const SessionSchema = z
  .object({ token: z.string(), user: UserSchema, channel: ChannelSchema })
  .openapi('Session');

export const authApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/signup',
      tags: ['auth'],
      summary: 'Create a user and their channel',
      request: { body: jsonBody(Credentials) },
      responses: {
        201: jsonContent(SessionSchema, 'The new session, user and channel'),
        ...describeErrors(400, 409, 422, 429),
      },
    }),
    async (c) => {
      const { username, password } = c.req.valid('json');
      if (RESERVED_USERNAMES.has(username.toLowerCase())) {
        throw new ApiError(422, 'username_reserved', `The username ${username} is reserved`);
      }
      const network = readClientNetwork(c);
      await enforceRateLimit(
        c.env,
        readRateLimit(c.env, 'signup_per_network'),
        network,
        'Too many signups from this network; try again after Retry-After seconds',
      );
      const networkBlock = readClientNetworkBlock(c);
      if (networkBlock !== null) {
        await enforceRateLimit(
          c.env,
          readRateLimit(c.env, 'signup_per_network_block'),
          networkBlock,
          'Too many signups from this network; try again after Retry-After seconds',
        );
      }
      await enforceRateLimit(
        c.env,
        readRateLimit(c.env, 'signup_per_username'),
        username,
        'Too many signups for this username; try again after Retry-After seconds',
      );
      const db = c.env.DB;
      const taken = await db
        .prepare('SELECT 1 FROM users WHERE username = ?1 UNION SELECT 1 FROM channels WHERE name = ?1')
        .bind(username)
        .first();
      if (taken) throw conflict('That username is taken');

      const now = Date.now();
      const userId = crypto.randomUUID();
      const channelId = crypto.randomUUID();
      const streamKey = await deriveStreamKey(c.env.STREAM_KEY_SECRET, channelId, 1);
      try {
        await db.batch([
          db
            .prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)')
            .bind(userId, username, await hashPassword(password), now),
          db
            .prepare(
              `INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, stream_key_version, created_at)
               VALUES (?, ?, ?, ?, ?, 1, ?)`,
            )
            .bind(channelId, userId, username, username, await hashStreamKey(streamKey), now),
          ...prepareSearchIndexRefresh(db, channelId),
          await prepareRememberNetwork(db, userId, network, now),
        ]);
      } catch (error) {
        // Two signups for one name can pass the check together; the unique index decides.
        if (String(error).includes('UNIQUE constraint failed')) throw conflict('That username is taken');
        throw error;
      }
      const token = await createSession(db, userId, now, c.req.header('User-Agent') ?? '');
      const channel = await findChannelOfUser(c, userId);
      return c.json({ token, user: toUser({ id: userId, username, created_at: now }), channel }, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/login',
      tags: ['auth'],
      summary: 'Exchange a username and password for a bearer token',
      request: { body: jsonBody(Credentials) },
      responses: {
        200: jsonContent(SessionSchema, 'The new session'),
        ...describeErrors(400, 401, 429),
      },
    }),
    async (c) => {
      const { username, password } = c.req.valid('json');
      const network = readClientNetwork(c);
      const now = Date.now();
      await enforceLoginRateLimits(c.env, username, network, readClientNetworkBlock(c));
      const row = await c.env.DB.prepare(
        'SELECT id, username, created_at, password_hash FROM users WHERE username = ?',
      )
        .bind(username)
        .first();
      const user = row ? UserRow.extend({ password_hash: z.string() }).parse(row) : null;
      // Counted before the password is checked (lib/login-guard.ts), refunded if it is right.
      const subject =
        user && (await isKnownNetwork(c.env.DB, user.id, network, now))
          ? await knownNetworkSubject(c.env, user.id, network)
          : accountSubject(c.env, username);
      await admitLoginAttempt(c.env.DB, subject, now);
      if (!user) {
        await spendPasswordVerificationTime(password);
        throw unauthorized('Wrong username or password');
      }
      if (!(await verifyPassword(password, user.password_hash))) {
        throw unauthorized('Wrong username or password');
      }
      await refundLoginAttempt(c.env.DB, subject);
      await recordLoginSuccess(c.env.DB, user.id, network, now);
      const token = await createSession(c.env.DB, user.id, now, c.req.header('User-Agent') ?? '');
      const channel = await findChannelOfUser(c, user.id);
      return c.json({ token, user: toUser(user), channel }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/logout',
      tags: ['auth'],
      summary: 'End the current session',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      responses: { 204: { description: 'Logged out' }, ...describeErrors(401) },
    }),
    async (c) => {
      const token = readBearerToken(c.req.header('Authorization'));
      if (token) await deleteSession(c.env.DB, token);
      return c.body(null, 204);
    },
  );
