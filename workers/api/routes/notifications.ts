// The signed-in user's notifications ("X went live"), written by the stream-events consumer.
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../shared/auth.ts';
import { badRequest } from '../../shared/errors.ts';
import { continueAfter, decodeCursor, takePage } from '../lib/cursor.ts';
import { BearerSecurity, createApiRouter, describeErrors, jsonBody, jsonContent } from '../lib/router.ts';

const NotificationSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    channel_id: z.string().nullable(),
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
  stream_id: z.string().nullable(),
  message: z.string(),
  created_at: z.number(),
  read_at: z.number().nullable(),
});
const NotificationCursor = z.object({ created_at: z.number(), id: z.string() });
const MarkReadBody = z
  .object({ ids: z.array(z.string().min(1).max(100)).min(1).max(100).optional() })
  .openapi('MarkNotificationsRead');

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
      const where = ['user_id = ?'];
      const params: (string | number)[] = [userId];
      if (cursor !== undefined) {
        const position = decodeCursor(NotificationCursor, cursor);
        if (!position) throw badRequest('Invalid cursor');
        const resume = continueAfter('created_at', 'id', { key: position.created_at, id: position.id });
        where.push(resume.sql);
        params.push(...resume.params);
      }
      const db = c.env.DB;
      const [page, unread] = await db.batch([
        db
          .prepare(
            `SELECT id, kind, channel_id, stream_id, message, created_at, read_at FROM notifications
             WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
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
  );
