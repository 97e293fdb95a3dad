// Highlights (a saved range of a VOD, kept for good: workers/vod/highlights.ts) and VOD view
// counting. The channel owner saves a range with POST /vods/{id}/highlights; anyone plays it at its
// playback_url (/highlights/{id}/master.m3u8, workers/origin/vod-playback.ts) after the VOD is gone.
// POST /vods/{id}/views counts a view once per viewer (the signed-in user, else the client network)
// per VOD per VOD_VIEW_WINDOW, as clip views are counted.
import { createRoute, z } from '@hono/zod-openapi';
import { log } from '../../../common/log.ts';
import { getHighlightPlaybackPath, getHighlightPrefix, getStreamPrefix } from '../../../media/vod-keys.ts';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { optionalUser, requireUser } from '../../shared/auth.ts';
import { forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import { consumeRateLimit, type RateLimit } from '../../shared/rate-limit.ts';
import {
  isPinnedKey,
  MAX_HIGHLIGHTS_PER_VOD,
  planHighlight,
  readPinnedRanges,
  writeHighlightPlaylists,
} from '../../vod/highlights.ts';
import { purgePrefix, purgePrefixExcept } from '../../vod/r2-storage.ts';
import { readVodIndex } from '../../vod/vod-index.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
  type RequestScope,
  readClientNetwork,
  readRequestOrigin,
} from '../lib/router.ts';
import { findChannel } from '../lib/views.ts';

/**
 * R2 deletes one DELETE /highlights/{id} may make: its playlists and, when its VOD is gone, the
 * segments only it kept (at most 1,800 s of 2 s segments in each of a ladder's renditions).
 */
const HIGHLIGHT_DELETE_BUDGET = 10_000;

/** One view per viewer per VOD in this window: replays and reloads within it count once. */
export const VOD_VIEW_WINDOW: RateLimit = { name: 'vod-view', limit: 1, windowMs: 6 * 60 * 60 * 1000 };

export const HighlightSchema = z
  .object({
    id: z.string(),
    vod_id: z.string(),
    channel_id: z.string(),
    title: z.string(),
    /** Where the range starts on the VOD's clock (widened to the segment it starts in). */
    start_seconds: z.number(),
    duration_seconds: z.number(),
    playback_url: z.string(),
    view_count: z.number().int(),
    created_at: z.string(),
  })
  .openapi('Highlight');

const HighlightRow = z.object({
  id: z.string(),
  vod_id: z.string(),
  channel_id: z.string(),
  title: z.string(),
  start_seconds: z.number(),
  duration_seconds: z.number(),
  view_count: z.number().int(),
  created_at: z.number(),
});
const HIGHLIGHT_SELECT =
  'SELECT id, vod_id, channel_id, title, start_seconds, duration_seconds, view_count, created_at FROM highlights';

function toHighlight(c: RequestScope, row: z.infer<typeof HighlightRow>): z.infer<typeof HighlightSchema> {
  return {
    id: row.id,
    vod_id: row.vod_id,
    channel_id: row.channel_id,
    title: row.title,
    start_seconds: Number(row.start_seconds.toFixed(3)),
    duration_seconds: Number(row.duration_seconds.toFixed(3)),
    playback_url: `${readRequestOrigin(c)}${getHighlightPlaybackPath(row.id)}`,
    view_count: row.view_count,
    created_at: new Date(row.created_at).toISOString(),
  };
}

const CreateBody = z
  .object({
    title: z
      .string()
      .trim()
      .min(1)
      .max(MAX_TITLE_LENGTH)
      .refine((t) => !/[\p{Cc}\p{Cf}]/u.test(t), 'No control or invisible characters'),
    start_seconds: z.number().finite().min(0),
    end_seconds: z.number().finite().min(0),
  })
  .strict()
  .openapi('HighlightCreate');

const VodFacts = z.object({
  id: z.string(),
  stream_id: z.string(),
  channel_id: z.string(),
  status: z.string(),
  duration_seconds: z.number(),
});
const IdParam = z.object({ id: pathParam('id') });

async function requireReadyVodFacts(db: D1Database, id: string): Promise<z.infer<typeof VodFacts>> {
  const found = await db
    .prepare('SELECT id, stream_id, channel_id, status, duration_seconds FROM vods WHERE id = ?')
    .bind(id)
    .first();
  const vod = found ? VodFacts.parse(found) : null;
  if (vod?.status !== 'ready') throw notFound('VOD');
  return vod;
}

export const highlightsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/vods/{id}/views',
      tags: ['vods'],
      summary: 'Count one view of a VOD (the player calls it once per playback)',
      middleware: [optionalUser] as const,
      request: { params: IdParam },
      responses: {
        204: { description: 'Counted (or already counted in the window)' },
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const vod = await requireReadyVodFacts(c.env.DB, c.req.valid('param').id);
      const viewer = c.var.user ? `user:${c.var.user.id}` : `net:${readClientNetwork(c)}`;
      // Replays, reloads and scripts count once per window; the player is not told which.
      if (await consumeRateLimit(c.env, VOD_VIEW_WINDOW, `${vod.id}|${viewer}`)) {
        await c.env.DB.prepare(
          "UPDATE vods SET view_count = view_count + 1 WHERE id = ? AND status = 'ready'",
        )
          .bind(vod.id)
          .run();
      }
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/vods/{id}/highlights',
      tags: ['vods'],
      summary: 'Save a range of a VOD as a highlight, kept when the VOD expires (the channel owner)',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: IdParam, body: jsonBody(CreateBody) },
      responses: {
        201: jsonContent(HighlightSchema, 'The highlight'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const db = c.env.DB;
      const vod = await requireReadyVodFacts(db, c.req.valid('param').id);
      if (vod.channel_id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may save highlights of its VODs');
      const body = c.req.valid('json');
      const renditions = await readVodIndex(c.env.MEDIA, vod.id);
      if (!renditions) throw notFound('VOD media');
      const plan = planHighlight(renditions, vod.duration_seconds, body.start_seconds, body.end_seconds);
      if (!plan.ok) throw unprocessable(plan.reason);
      const id = crypto.randomUUID();
      await writeHighlightPlaylists(c.env.MEDIA, id, plan.renditions);
      const now = Date.now();
      // Only while the VOD is ready, and within the per-VOD cap, in one statement: the retention
      // sweep marks a VOD 'deleting' before it reads the ranges to keep, so a highlight it did not
      // see cannot be created after.
      const inserted = await db
        .prepare(
          `INSERT INTO highlights (id, vod_id, stream_id, channel_id, title, start_seconds, duration_seconds,
                                   first_msn, last_msn, created_at)
           SELECT ?1, v.id, v.stream_id, v.channel_id, ?2, ?3, ?4, ?5, ?6, ?7 FROM vods v
           WHERE v.id = ?8 AND v.status = 'ready'
             AND (SELECT count(*) FROM highlights WHERE vod_id = ?8) < ${MAX_HIGHLIGHTS_PER_VOD}
           RETURNING id, vod_id, channel_id, title, start_seconds, duration_seconds, view_count, created_at`,
        )
        .bind(
          id,
          body.title,
          plan.startSeconds,
          plan.durationSeconds,
          plan.firstMsn,
          plan.lastMsn,
          now,
          vod.id,
        )
        .first();
      if (!inserted) {
        // The playlists written above name no highlight: they go again.
        await purgePrefix(c.env.MEDIA, getHighlightPrefix(id), 100);
        const { n } = z
          .object({ n: z.number() })
          .parse(
            await db.prepare('SELECT count(*) AS n FROM highlights WHERE vod_id = ?').bind(vod.id).first(),
          );
        if (n >= MAX_HIGHLIGHTS_PER_VOD)
          throw unprocessable(`A VOD has at most ${MAX_HIGHLIGHTS_PER_VOD} highlights`);
        throw notFound('VOD');
      }
      return c.json(toHighlight(c, HighlightRow.parse(inserted)), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/highlights/{id}',
      tags: ['vods'],
      summary: 'One highlight',
      request: { params: IdParam },
      responses: { 200: jsonContent(HighlightSchema, 'The highlight'), ...describeErrors(404) },
    }),
    async (c) => {
      const found = await c.env.DB.prepare(`${HIGHLIGHT_SELECT} WHERE id = ?`)
        .bind(c.req.valid('param').id)
        .first();
      if (!found) throw notFound('Highlight');
      return c.json(toHighlight(c, HighlightRow.parse(found)), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/highlights',
      tags: ['vods'],
      summary: "A channel's highlights, newest first (the latest 100)",
      request: { params: IdParam },
      responses: {
        200: jsonContent(z.object({ data: z.array(HighlightSchema) }), 'Highlights'),
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      const { results } = await c.env.DB.prepare(
        `${HIGHLIGHT_SELECT} WHERE channel_id = ? ORDER BY created_at DESC LIMIT 100`,
      )
        .bind(channel.id)
        .all();
      return c.json({ data: results.map((row) => toHighlight(c, HighlightRow.parse(row))) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/highlights/{id}',
      tags: ['vods'],
      summary:
        'Delete a highlight (the channel owner); once its VOD is gone, the media only it kept goes too',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const db = c.env.DB;
      const found = await db
        .prepare(
          `SELECT h.id, h.stream_id, h.channel_id, v.status AS vod_status
           FROM highlights h JOIN vods v ON v.id = h.vod_id WHERE h.id = ?`,
        )
        .bind(c.req.valid('param').id)
        .first();
      if (!found) throw notFound('Highlight');
      const highlight = z
        .object({ id: z.string(), stream_id: z.string(), channel_id: z.string(), vod_status: z.string() })
        .parse(found);
      if (highlight.channel_id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may delete its highlights');
      await db.prepare('DELETE FROM highlights WHERE id = ?').bind(highlight.id).run();
      const playlists = await purgePrefix(c.env.MEDIA, getHighlightPrefix(highlight.id), 100);
      // A VOD still ready owns its media; one being deleted is finished by the sweep, which reads
      // the ranges to keep after this row is gone. Only a deleted VOD's leftovers are ours to purge.
      if (highlight.vod_status === 'deleted') {
        const prefix = getStreamPrefix(highlight.stream_id);
        const kept = await readPinnedRanges(db, highlight.stream_id);
        const media = await purgePrefixExcept(
          c.env.MEDIA,
          prefix,
          HIGHLIGHT_DELETE_BUDGET - playlists.deleted,
          (key) => isPinnedKey(key, prefix, kept),
        );
        if (!media.done) log.warn('highlight_purge_incomplete', { stream_id: highlight.stream_id });
      }
      return c.body(null, 204);
    },
  );
