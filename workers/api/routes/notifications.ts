// The signed-in user's notifications ("X went live"), written by the stream-events consumer, and
// the browsers they subscribed to Web Push (workers/notifications/).
import { createRoute, z } from '@hono/zod-openapi';
import {
  checkPushEndpoint,
  decodePushKeys,
  MAX_ENDPOINT_LENGTH,
} from '../../notifications/push-endpoints.ts';
import { loadVapidKeys } from '../../notifications/web-push.ts';
import { requireUser } from '../../shared/auth.ts';
import { badRequest, notFound, unavailable, unprocessable } from '../../shared/errors.ts';
import { continueAfter, decodeCursor, takePage } from '../lib/cursor.ts';
import { BearerSecurity, createApiRouter, describeErrors, jsonBody, jsonContent } from '../lib/router.ts';

const NotificationSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    channel_id: z.string().nullable(),
    /** The channel's name, for a link to its page (null once the channel is gone). */
    channel_name: z.string().nullable(),
    stream_id: z.string().nullable(),
    message: z.string(),
    created_at: z.string(),
    read_at: z.string().nullable(),
  })
  .openapi('Notification');
const NotificationRow = z.object({
  id: z.string(),
  kind: z.string(),
  channel_id: z.string().nullable(),
  channel_name: z.string().nullable(),
  stream_id: z.string().nullable(),
  message: z.string(),
  created_at: z.number(),
  read_at: z.number().nullable(),
});
const NotificationCursor = z.object({ created_at: z.number(), id: z.string() });
const MarkReadBody = z
  .object({ ids: z.array(z.string().min(1).max(100)).min(1).max(100).optional() })
  .openapi('MarkNotificationsRead');

/** Browsers (push subscriptions) one account may have; each "went live" is one request per browser. */
export const MAX_PUSH_SUBSCRIPTIONS_PER_USER = 10;
const PushEndpoint = z.string().min(1).max(MAX_ENDPOINT_LENGTH);
/** PushSubscription.toJSON() as browsers give it (expirationTime is ignored). */
const PushSubscriptionBody = z
  .object({
    endpoint: PushEndpoint,
    expirationTime: z.number().nullable().optional(),
    keys: z.object({ p256dh: z.string().min(1).max(200), auth: z.string().min(1).max(100) }),
  })
  .openapi('PushSubscription');

export const notificationsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['notifications'],
      summary: 'Your notifications, newest first',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(500).optional(),
        }),
      },
      responses: {
        200: jsonContent(
          z.object({
            data: z.array(NotificationSchema),
            cursor: z.string().nullable(),
            unread: z.number().int(),
          }),
          'A page of notifications',
        ),
        ...describeErrors(400, 401),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const userId = c.var.user.id;
      const where = ['n.user_id = ?'];
      const params: (string | number)[] = [userId];
      if (cursor !== undefined) {
        const position = decodeCursor(NotificationCursor, cursor);
        if (!position) throw badRequest('Invalid cursor');
        const resume = continueAfter('n.created_at', 'n.id', { key: position.created_at, id: position.id });
        where.push(resume.sql);
        params.push(...resume.params);
      }
      const db = c.env.DB;
      const [page, unread] = await db.batch([
        db
          .prepare(
            `SELECT n.id, n.kind, n.channel_id, c.name AS channel_name, n.stream_id, n.message, n.created_at,
                    n.read_at
             FROM notifications n LEFT JOIN channels c ON c.id = n.channel_id
             WHERE ${where.join(' AND ')} ORDER BY n.created_at DESC, n.id DESC LIMIT ?`,
          )
          .bind(...params, limit + 1),
        db
          .prepare('SELECT count(*) AS n FROM notifications WHERE user_id = ? AND read_at IS NULL')
          .bind(userId),
      ]);
      const { page: shown, cursor: next } = takePage(
        (page?.results ?? []).map((row) => NotificationRow.parse(row)),
        limit,
        (last) => ({ created_at: last.created_at, id: last.id }),
      );
      return c.json(
        {
          data: shown.map((row) => ({
            ...row,
            created_at: new Date(row.created_at).toISOString(),
            read_at: row.read_at === null ? null : new Date(row.read_at).toISOString(),
          })),
          cursor: next,
          unread: z.object({ n: z.number() }).parse(unread?.results[0]).n,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/read',
      tags: ['notifications'],
      summary: 'Mark notifications read (the listed ids, or all)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(MarkReadBody) },
      responses: {
        200: jsonContent(z.object({ updated: z.number().int() }), 'How many were marked'),
        ...describeErrors(400, 401),
      },
    }),
    async (c) => {
      const { ids } = c.req.valid('json');
      const userId = c.var.user.id;
      const now = Date.now();
      const statement =
        ids === undefined
          ? c.env.DB.prepare(
              'UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL',
            ).bind(now, userId)
          : c.env.DB.prepare(
              `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL
               AND id IN (SELECT value FROM json_each(?))`,
            ).bind(now, userId, JSON.stringify(ids));
      const result = await statement.run();
      return c.json({ updated: result.meta.changes }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/push/key',
      tags: ['notifications'],
      summary: "The server's VAPID public key, the browser's applicationServerKey",
      responses: {
        200: jsonContent(z.object({ public_key: z.string() }), 'base64url, 65 bytes'),
        ...describeErrors(503),
      },
    }),
    async (c) => {
      const vapid = await loadVapidKeys(c.env);
      if (!vapid) throw unavailable('Push notifications are not configured on this server');
      return c.json({ public_key: vapid.publicKey }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/push/subscriptions',
      tags: ['notifications'],
      summary: 'Register this browser for Web Push (the PushSubscription as JSON)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(PushSubscriptionBody) },
      responses: {
        201: jsonContent(z.object({ id: z.string() }), 'Registered (or moved to this account)'),
        ...describeErrors(400, 401, 422),
      },
    }),
    async (c) => {
      const { endpoint, keys } = c.req.valid('json');
      const checked = checkPushEndpoint(endpoint);
      if (!checked.ok) throw unprocessable(`Push subscription refused: ${checked.reason}`);
      if (!(await decodePushKeys(keys.p256dh, keys.auth))) {
        throw unprocessable(
          'Push subscription refused: keys.p256dh must be a P-256 point and keys.auth 16 bytes',
        );
      }
      const db = c.env.DB;
      const userId = c.var.user.id;
      const id = crypto.randomUUID();
      // One row per browser: the endpoint is the browser's, so registering it again (after a log-in
      // as someone else) moves it to this account rather than notifying both.
      // The cap is checked in the same statement that writes, so parallel requests cannot pass it.
      const row = await db
        .prepare(
          `INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6
           WHERE (SELECT count(*) FROM push_subscriptions WHERE user_id = ?2 AND endpoint <> ?3) < ?7
           ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,
             auth = excluded.auth, created_at = excluded.created_at
           RETURNING id`,
        )
        .bind(
          id,
          userId,
          checked.url.href,
          keys.p256dh,
          keys.auth,
          Date.now(),
          MAX_PUSH_SUBSCRIPTIONS_PER_USER,
        )
        .first<{ id: string }>();
      if (!row) {
        throw unprocessable(
          `At most ${MAX_PUSH_SUBSCRIPTIONS_PER_USER} browsers may get push notifications; remove one first`,
        );
      }
      return c.json({ id: row.id }, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/push/subscriptions',
      tags: ['notifications'],
      summary: 'Stop Web Push to this browser',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(z.object({ endpoint: PushEndpoint })) },
      responses: { 204: { description: 'Removed' }, ...describeErrors(400, 401, 404) },
    }),
    async (c) => {
      const { endpoint } = c.req.valid('json');
      const checked = checkPushEndpoint(endpoint);
      const result = await c.env.DB.prepare(
        'DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?',
      )
        .bind(c.var.user.id, checked.ok ? checked.url.href : endpoint)
        .run();
      if (result.meta.changes === 0) throw notFound('Push subscription');
      return c.body(null, 204);
    },
  );
