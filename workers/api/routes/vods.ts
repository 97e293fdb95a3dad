// Past broadcasts: a channel's VODs (newest first), one VOD, deleting it (the owner; its media goes
// from R2), and its chat replay. The VODs themselves are made by the stream.ended consumer
// (workers/vod/finalize-vod.ts) and played from /vod/... (workers/origin/vod-playback.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { log } from '../../../common/log.ts';
import type { VodRun } from '../../../media/hls/vod-playlist.ts';
import { getVodDashPath, getVodPlaybackPath } from '../../../media/vod-keys.ts';
import { requireUser } from '../../shared/auth.ts';
import { badRequest, forbidden, notFound } from '../../shared/errors.ts';
import { ChapterSchema, readVodChapters } from '../../vod/chapters.ts';
import { readChatReplay } from '../../vod/chat-archive.ts';
import { deleteVod } from '../../vod/retention.ts';
import { decodeCursor, queryKeysetPage } from '../lib/cursor.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonContent,
  pathParam,
  type RequestScope,
  readRequestOrigin,
} from '../lib/router.ts';
import { findChannel } from '../lib/views.ts';

/** R2 objects one DELETE removes inline; a longer stream is finished by the retention cron. */
const DELETE_BUDGET = 2000;
/** The longest chat replay window one request returns (seconds). */
const MAX_REPLAY_WINDOW = 3600;
const DEFAULT_REPLAY_WINDOW = 300;

export const VodSchema = z
  .object({
    id: z.string(),
    stream_id: z.string(),
    channel_id: z.string(),
    title: z.string(),
    duration_seconds: z.number(),
    thumbnail_url: z.string().nullable(),
    created_at: z.string(),
    expires_at: z.string(),
    playback_url: z.string(),
    dash_url: z.string(),
    view_count: z.number().int(),
  })
  .openapi('Vod');

const VodRow = z.object({
  id: z.string(),
  stream_id: z.string(),
  channel_id: z.string(),
  title: z.string(),
  duration_seconds: z.number(),
  thumbnail_url: z.string().nullable(),
  status: z.enum(['ready', 'deleting', 'deleted']),
  view_count: z.number().int(),
  created_at: z.number(),
  expires_at: z.number(),
});
type VodRow = z.infer<typeof VodRow>;

const VOD_SELECT =
  'SELECT id, stream_id, channel_id, title, duration_seconds, thumbnail_url, status, view_count, created_at, expires_at FROM vods';

function toVod(c: RequestScope, row: VodRow): z.infer<typeof VodSchema> {
  const origin = readRequestOrigin(c);
  return {
    id: row.id,
    stream_id: row.stream_id,
    channel_id: row.channel_id,
    title: row.title,
    duration_seconds: Number(row.duration_seconds.toFixed(3)),
    thumbnail_url: row.thumbnail_url === null ? null : `${origin}${row.thumbnail_url}`,
    created_at: new Date(row.created_at).toISOString(),
    expires_at: new Date(row.expires_at).toISOString(),
    playback_url: `${origin}${getVodPlaybackPath(row.id)}`,
    dash_url: `${origin}${getVodDashPath(row.id)}`,
    view_count: row.view_count,
  };
}

/** A VOD that can be watched: 404 for unknown, deleting and deleted ones alike. */
async function requireReadyVod(db: D1Database, id: string): Promise<VodRow> {
  const found = await db.prepare(`${VOD_SELECT} WHERE id = ?`).bind(id).first();
  const row = found ? VodRow.parse(found) : null;
  if (row?.status !== 'ready') throw notFound('VOD');
  return row;
}

const IdParam = z.object({
  id: pathParam('id'),
});
const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
const VodCursor = z.object({ created_at: z.number(), id: z.string() });

const ReplayQuery = z
  .object({
    from: z.coerce.number().min(0).default(0),
    to: z.coerce.number().min(0).optional(),
  })
  .openapi('ChatReplayQuery');
const ReplayMessageSchema = z
  .object({
    id: z.string(),
    offset_seconds: z.number(),
    sent_at: z.number(),
    user: z.object({
      id: z.string(),
      name: z.string(),
      display_name: z.string(),
      color: z.string().nullable(),
      badges: z.array(z.object({ id: z.string(), version: z.string() })),
    }),
    content: z.string(),
    emotes: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        positions: z.array(z.tuple([z.number(), z.number()])),
        url: z.string(),
      }),
    ),
  })
  .openapi('ReplayMessage');

const TimelineRow = z.object({ stream_id: z.string(), runs: z.string() });
const VodRunJson = z.array(
  z.object({ start_seconds: z.number(), pdt: z.number(), duration_seconds: z.number() }),
);

export const vodsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/vods',
      tags: ['vods'],
      summary: "A channel's past broadcasts, newest first",
      request: { params: IdParam, query: PageQuery },
      responses: {
        200: jsonContent(
          z.object({ data: z.array(VodSchema), cursor: z.string().nullable() }).openapi('VodPage'),
          'A page of VODs',
        ),
        ...describeErrors(400, 404),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      const query = c.req.valid('query');
      const where = ['channel_id = ?', "status = 'ready'"];
      const params: (string | number)[] = [channel.id];
      let after: { key: number; id: string } | null = null;
      if (query.cursor !== undefined) {
        const position = decodeCursor(VodCursor, query.cursor);
        if (!position) throw badRequest('Invalid cursor');
        after = { key: position.created_at, id: position.id };
      }
      const { page, cursor } = await queryKeysetPage(c.env.DB, {
        select: VOD_SELECT,
        where,
        params,
        keyColumn: 'created_at',
        idColumn: 'id',
        after,
        limit: query.limit,
        parse: (row) => VodRow.parse(row),
        positionOf: (last) => ({ created_at: last.created_at, id: last.id }),
      });
      return c.json({ data: page.map((row) => toVod(c, row)), cursor }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/vods/{id}',
      tags: ['vods'],
      summary: 'One past broadcast, with its chapters (the categories of the stream, seekable)',
      request: { params: IdParam },
      responses: {
        200: jsonContent(
          VodSchema.extend({ chapters: z.array(ChapterSchema) }).openapi('VodDetail'),
          'The VOD; chapters is empty when the category never changed',
        ),
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const vod = await requireReadyVod(c.env.DB, c.req.valid('param').id);
      const found = await c.env.DB.prepare('SELECT runs FROM vod_timelines WHERE vod_id = ?')
        .bind(vod.id)
        .first();
      const runs: VodRun[] =
        found === null ? [] : VodRunJson.parse(JSON.parse(z.object({ runs: z.string() }).parse(found).runs));
      const chapters = await readVodChapters(c.env.DB, vod.stream_id, runs, vod.duration_seconds);
      return c.json({ ...toVod(c, vod), chapters }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/vods/{id}',
      tags: ['vods'],
      summary: 'Delete a past broadcast and its media (the channel owner)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const vod = await requireReadyVod(c.env.DB, c.req.valid('param').id);
      if (vod.channel_id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may delete its VODs');
      const result = await deleteVod(c.env, vod, DELETE_BUDGET);
      if (!result.done) {
        log.info('vod_purge_deferred', { vod_id: vod.id, channel_id: vod.channel_id });
      }
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/vods/{id}/chat',
      tags: ['vods'],
      summary: 'The chat replay of a VOD between two positions (seconds)',
      request: { params: IdParam, query: ReplayQuery },
      responses: {
        200: jsonContent(
          z
            .object({
              messages: z.array(ReplayMessageSchema),
              /** Set when the window held more chat than one answer carries: ask again from here. */
              next_from: z.number().nullable(),
            })
            .openapi('ChatReplay'),
          'Messages in time order; next_from (seconds) when the window continues in another request',
        ),
        ...describeErrors(400, 404),
      },
    }),
    async (c) => {
      const vod = await requireReadyVod(c.env.DB, c.req.valid('param').id);
      const query = c.req.valid('query');
      const to = query.to ?? query.from + DEFAULT_REPLAY_WINDOW;
      if (to <= query.from) throw badRequest('"to" must be after "from"');
      if (to - query.from > MAX_REPLAY_WINDOW)
        throw badRequest(`At most ${MAX_REPLAY_WINDOW} seconds per request`);
      const found = await c.env.DB.prepare('SELECT stream_id, runs FROM vod_timelines WHERE vod_id = ?')
        .bind(vod.id)
        .first();
      if (!found) throw notFound('VOD timeline');
      const timeline = TimelineRow.parse(found);
      const runs: VodRun[] = VodRunJson.parse(JSON.parse(timeline.runs));
      const replay = await readChatReplay(c.env, {
        streamId: timeline.stream_id,
        channelId: vod.channel_id,
        runs,
        fromSeconds: query.from,
        toSeconds: to,
      });
      return c.json({ messages: replay.messages, next_from: replay.nextFrom }, 200);
    },
  );
