// Following channels. The follow row is written here; follower_count is settled by the
// stream-events consumer (channel.followed / channel.unfollowed), off the request path.
import { createRoute, z } from '@hono/zod-openapi';
import { createEvent } from '../../../protocol/events.ts';
import { requireUser } from '../../shared/auth.ts';
import { notFound, unprocessable } from '../../shared/errors.ts';
import { publishEvent } from '../../shared/events.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import {
  CHANNEL_SELECT,
  ChannelRow,
  ChannelSchema,
  LiveStreamSchema,
  STREAM_SELECT,
  StreamRow,
  toChannel,
  toLiveStream,
} from '../lib/views.ts';

const ChannelParams = z.object({
  id: pathParam('id'),
});
const FollowedChannelSchema = z
  .object({
    channel: ChannelSchema,
    followed_at: z.string(),
    /** Whether this follower gets "went live" from the channel (in-app and push). */
    notifications: z.boolean(),
    stream: LiveStreamSchema.nullable(),
  })
  .openapi('FollowedChannel');
const FollowNotificationsBody = z.object({ enabled: z.boolean() }).openapi('FollowNotifications');
/** A user sees at most this many followed channels in one list. */
const MAX_FOLLOWS_LISTED = 200;

async function requireChannelId(db: D1Database, id: string): Promise<string> {
  const row = await db.prepare('SELECT id FROM channels WHERE id = ?').bind(id).first<{ id: string }>();
  if (!row) throw notFound('Channel');
  return row.id;
}

export const followsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/follow',
      tags: ['follows'],
      summary: 'Follow a channel (idempotent)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 204: { description: 'Following' }, ...describeErrors(401, 404, 422) },
    }),
    async (c) => {
      const user = c.var.user;
      const channelId = await requireChannelId(c.env.DB, c.req.valid('param').id);
      if (channelId === user.channel_id) throw unprocessable('You cannot follow your own channel');
      await c.env.DB.prepare(
        'INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      )
        .bind(user.id, channelId, Date.now())
        .run();
      // Published on every success, even when the row already existed: if an earlier attempt wrote
      // the row and then failed to send, this retry is the only chance to get the count settled.
      // The consumer recounts, so a repeated event changes nothing.
      await publishEvent(
        c.env.STREAM_EVENTS,
        createEvent('channel.followed', { channel_id: channelId, user_id: user.id }),
      );
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}/follow',
      tags: ['follows'],
      summary: 'Unfollow a channel (idempotent)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 204: { description: 'Not following' }, ...describeErrors(401, 404) },
    }),
    async (c) => {
      const user = c.var.user;
      const channelId = await requireChannelId(c.env.DB, c.req.valid('param').id);
      await c.env.DB.prepare('DELETE FROM follows WHERE user_id = ? AND channel_id = ?')
        .bind(user.id, channelId)
        .run();
      // As for follow: published on every success, so a retry after a failed send settles the count.
      await publishEvent(
        c.env.STREAM_EVENTS,
        createEvent('channel.unfollowed', { channel_id: channelId, user_id: user.id }),
      );
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/channels/{id}/follow/notifications',
      tags: ['follows'],
      summary: 'Turn "went live" notifications from a followed channel on or off (in-app and push)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(FollowNotificationsBody) },
      responses: {
        200: jsonContent(FollowNotificationsBody, 'The setting now'),
        ...describeErrors(400, 401, 404),
      },
    }),
    async (c) => {
      const channelId = await requireChannelId(c.env.DB, c.req.valid('param').id);
      const { enabled } = c.req.valid('json');
      const result = await c.env.DB.prepare(
        'UPDATE follows SET notifications = ? WHERE user_id = ? AND channel_id = ?',
      )
        .bind(enabled ? 1 : 0, c.var.user.id, channelId)
        .run();
      if (result.meta.changes === 0) throw notFound('Follow');
      return c.json({ enabled }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/users/me/follows',
      tags: ['follows'],
      summary: 'Channels you follow, live ones first',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      responses: {
        200: jsonContent(z.object({ data: z.array(FollowedChannelSchema) }), 'Followed channels'),
        ...describeErrors(401),
      },
    }),
    async (c) => {
      const db = c.env.DB;
      const userId = c.var.user.id;
      const [channels, streams] = await db.batch([
        db
          .prepare(
            `${CHANNEL_SELECT.replace('SELECT', 'SELECT f.created_at AS followed_at, f.notifications AS follow_notifications,')}
             JOIN follows f ON f.channel_id = c.id WHERE f.user_id = ?
             ORDER BY is_live DESC, f.created_at DESC LIMIT ${MAX_FOLLOWS_LISTED}`,
          )
          .bind(userId),
        db
          .prepare(
            `${STREAM_SELECT} JOIN follows f ON f.channel_id = s.channel_id WHERE f.user_id = ? AND s.status = 'live'`,
          )
          .bind(userId),
      ]);
      const liveByChannel = new Map(
        (streams?.results ?? []).map((row) => {
          const stream = StreamRow.parse(row);
          return [stream.channel_id, toLiveStream(c, stream)];
        }),
      );
      const data = (channels?.results ?? []).map((row) => {
        const channel = ChannelRow.extend({
          followed_at: z.number(),
          follow_notifications: z.number(),
        }).parse(row);
        return {
          channel: toChannel(c, channel),
          followed_at: new Date(channel.followed_at).toISOString(),
          notifications: channel.follow_notifications === 1,
          stream: liveByChannel.get(channel.id) ?? null,
        };
      });
      return c.json({ data }, 200);
    },
  );
