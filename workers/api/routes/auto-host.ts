// Auto-host: while a channel is offline its page plays a live channel the streamer chose, the first
// live one of an ordered list (Twitch's host list, with its priority order). The owner keeps the
// list (at most MAX_AUTO_HOST_TARGETS channels, not their own); anyone may ask whom a channel hosts
// now, which costs one indexed query and is answered null while the channel itself is live.
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../shared/auth.ts';
import { forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import { findChannel, LiveStreamSchema, STREAM_SELECT, StreamRow, toLiveStream } from '../lib/views.ts';

export const MAX_AUTO_HOST_TARGETS = 10;

const ChannelParams = z.object({ id: pathParam('id') });
const HostTarget = z.object({ id: z.string(), name: z.string(), display_name: z.string() });
const AutoHostList = z.object({ channels: z.array(HostTarget) }).openapi('AutoHostList');
const AutoHostInput = z
  .object({
    /** Channel ids or names, in priority order; an empty list turns auto-host off. */
    channels: z.array(z.string().min(1).max(100)).max(MAX_AUTO_HOST_TARGETS),
  })
  .openapi('AutoHostInput');
const Hosting = z.object({ hosting: LiveStreamSchema.nullable() }).openapi('Hosting');

async function readList(db: D1Database, channelId: string): Promise<z.infer<typeof HostTarget>[]> {
  const { results } = await db
    .prepare(
      `SELECT c.id, c.name, c.display_name FROM channel_auto_host h JOIN channels c ON c.id = h.target_channel_id
       WHERE h.channel_id = ? ORDER BY h.position`,
    )
    .bind(channelId)
    .all();
  return results.map((row) => HostTarget.parse(row));
}

export const autoHostApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/auto-host',
      tags: ['channels'],
      summary: "The channel's auto-host list, in priority order (the owner)",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams },
      responses: { 200: jsonContent(AutoHostList, 'The list'), ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      if (channel.id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may see its host list');
      return c.json({ channels: await readList(c.env.DB, channel.id) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/channels/{id}/auto-host',
      tags: ['channels'],
      summary: "Replace the channel's auto-host list (the owner); an empty list turns auto-host off",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(AutoHostInput) },
      responses: {
        200: jsonContent(AutoHostList, 'The list now'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      if (channel.id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may set its host list');
      const targets: string[] = [];
      for (const ref of c.req.valid('json').channels) {
        const target = await findChannel(c, ref);
        if (!target) throw unprocessable(`Unknown channel: ${ref}`);
        if (target.id === channel.id) throw unprocessable('A channel cannot host itself');
        if (targets.includes(target.id)) throw unprocessable(`Listed twice: ${ref}`);
        targets.push(target.id);
      }
      await c.env.DB.batch([
        c.env.DB.prepare('DELETE FROM channel_auto_host WHERE channel_id = ?').bind(channel.id),
        ...targets.map((target, position) =>
          c.env.DB.prepare(
            'INSERT INTO channel_auto_host (channel_id, position, target_channel_id) VALUES (?, ?, ?)',
          ).bind(channel.id, position, target),
        ),
      ]);
      return c.json({ channels: await readList(c.env.DB, channel.id) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/hosting',
      tags: ['channels'],
      summary: 'The live channel this offline channel hosts now (the first live one of its list)',
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(Hosting, 'hosting is null while the channel is live or none of its list is'),
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      const row = await c.env.DB.prepare(
        `${STREAM_SELECT} JOIN channel_auto_host h ON h.target_channel_id = s.channel_id
         WHERE h.channel_id = ?1 AND s.status = 'live'
           AND NOT EXISTS (SELECT 1 FROM streams own WHERE own.channel_id = ?1 AND own.status = 'live')
         ORDER BY h.position LIMIT 1`,
      )
        .bind(channel.id)
        .first();
      return c.json({ hosting: row ? toLiveStream(c, StreamRow.parse(row)) : null }, 200);
    },
  );
