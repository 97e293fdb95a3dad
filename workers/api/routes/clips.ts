// Clips: POST /clips answers 202 at once and queues the job that cuts the MP4
// (workers/clips/clip-job.ts); GET a clip, a channel's clips (recent or top), and view counting by
// POST /clips/{id}/views (counting GETs of the media would count every Range request a player makes).
// Every POST /clips is counted per user before any work (LIMITS.clip_attempts_per_user: resolving
// the window reads the stream's segment index), the clips made per user and per channel
// (clips_per_user, clips_per_channel); creating is refused where the channel turned clipping off
// and to users banned or timed out in the channel; the clip's creator, the channel owner and its
// moderators may retitle or delete a clip (lib/clip-access.ts). A view counts once per client
// network per clip per clip_views_per_network window.
import { createRoute, z } from '@hono/zod-openapi';
import { mapPositionToWallClock } from '../../../media/hls/vod-playlist.ts';
import {
  getClipKey,
  getClipPath,
  getClipThumbnailKey,
  getClipThumbnailPath,
} from '../../../media/vod-keys.ts';
import { createEvent } from '../../../protocol/events.ts';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { planClip } from '../../clips/clip-assembly.ts';
import { loadClipSource } from '../../clips/clip-job.ts';
import { requireUser } from '../../shared/auth.ts';
import { ApiError, badRequest, notFound, unprocessable } from '../../shared/errors.ts';
import { publishEvent } from '../../shared/events.ts';
import { readRateLimit } from '../../shared/limits.ts';
import { consumeRateLimit, enforceRateLimit } from '../../shared/rate-limit.ts';
import { requireClipManager } from '../lib/clip-access.ts';
import { CLIP_SELECT, ClipRow, ClipSchema, requireClip, toClip } from '../lib/clip-views.ts';
import { decodeCursor, queryKeysetPage } from '../lib/cursor.ts';
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

/** "Viewers create short clips (30-60 sec)"; 5 s is the shortest worth keeping. */
export const MIN_CLIP_SECONDS = 5;
export const MAX_CLIP_SECONDS = 60;
/** How far a VOD clip may run past the VOD's end (its last part can end a little early). */
const END_SLACK_SECONDS = 0.5;

const CreateClipBody = z
  .object({
    stream_id: z.string().min(1).max(100),
    title: z.string().trim().min(1).max(MAX_TITLE_LENGTH),
    duration_seconds: z.number().min(MIN_CLIP_SECONDS).max(MAX_CLIP_SECONDS),
    /** Live: seconds relative to the live edge (≤ 0). Ended: seconds into the VOD (≥ 0). */
    offset_seconds: z.number().min(-86_400).max(86_400),
  })
  .openapi('CreateClip');
const ClipPatch = z
  .object({ title: z.string().trim().min(1).max(MAX_TITLE_LENGTH) })
  .strict()
  .openapi('ClipPatch');
const ClipCreatedSchema = z
  .object({ clip_id: z.string(), url: z.string(), status: z.literal('processing') })
  .openapi('ClipCreated');

const StreamFacts = z.object({
  id: z.string(),
  channel_id: z.string(),
  status: z.enum(['pending', 'live', 'ended']),
  renditions: z.string(),
});
const VodFacts = z.object({
  id: z.string(),
  status: z.string(),
  duration_seconds: z.number(),
  runs: z.string(),
});
const VodRunJson = z.array(
  z.object({ start_seconds: z.number(), pdt: z.number(), duration_seconds: z.number() }),
);

interface ClipWindow {
  windowStart: number;
  vodId: string | null;
}

/**
 * Where a requested clip sits on the wall clock. A live clip is measured from the live edge (the
 * end of the newest archived segment: what a viewer has just seen); an ended stream's clip from
 * the start of its VOD. A window already known to be unavailable is a 422 here, not a failed job.
 */
async function resolveClipWindow(
  env: Env,
  stream: z.infer<typeof StreamFacts>,
  offset: number,
  duration: number,
): Promise<ClipWindow> {
  let vodId: string | null = null;
  let windowStart: number | null;
  const source = await loadClipSource(env, stream.channel_id, stream.id, stream.renditions);
  const last = source?.segments.at(-1);
  if (!source || !last) throw unprocessable('The stream has no archived media to clip');
  if (stream.status === 'live') {
    if (offset > 0 || offset + duration > 0.001)
      throw unprocessable(
        'A clip of a live stream must end at or before the live edge (offset_seconds + duration_seconds ≤ 0)',
      );
    if (-offset > Number(env.DVR_WINDOW_SECONDS))
      throw unprocessable('The window is older than the DVR window of this stream');
    windowStart = last.pdt + last.duration * 1000 + offset * 1000;
  } else {
    const found = await env.DB.prepare(
      `SELECT v.id, v.status, v.duration_seconds, t.runs FROM vods v JOIN vod_timelines t ON t.vod_id = v.id
       WHERE v.stream_id = ?`,
    )
      .bind(stream.id)
      .first();
    const vod = found ? VodFacts.parse(found) : null;
    if (vod?.status !== 'ready')
      throw unprocessable('This stream has no past broadcast any more (deleted or expired)');
    if (offset < 0) throw unprocessable('A clip of an ended stream takes offset_seconds ≥ 0 into its VOD');
    if (offset + duration > vod.duration_seconds + END_SLACK_SECONDS)
      throw unprocessable('The window runs past the end of the VOD');
    windowStart = mapPositionToWallClock(VodRunJson.parse(JSON.parse(vod.runs)), offset);
    vodId = vod.id;
  }
  if (windowStart === null) throw unprocessable('The window is outside the VOD');
  const plan = planClip(source.segments, windowStart, duration);
  if (!plan.ok) throw unprocessable(plan.reason);
  return { windowStart, vodId };
}

const IdParam = z.object({
  id: pathParam('id'),
});
export const CLIP_SORTS = ['recent', 'top'] as const;
const ListQuery = z.object({
  sort: z.enum(CLIP_SORTS).default('recent'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
const ClipCursor = z.object({ sort: z.enum(CLIP_SORTS), key: z.number(), id: z.string() });

/**
 * Creates a clip request as POST /clips does (rate limits, the channel's switch, bans, the
 * window) and queues its job; Helix POST /clips calls it too (workers/helix/videos-clips-raids.ts).
 */
export async function requestClip(
  scope: RequestScope,
  userId: string,
  body: z.infer<typeof CreateClipBody>,
): Promise<z.infer<typeof ClipCreatedSchema>> {
  const db = scope.env.DB;
  // Before any work: a rejected request costs this allowance too, so it cannot be looped.
  await enforceRateLimit(
    scope.env,
    readRateLimit(scope.env, 'clip_attempts_per_user'),
    userId,
    'You have asked for too many clips; try again after Retry-After seconds',
  );
  const found = await db
    .prepare(
      `SELECT s.id, s.channel_id, s.status, s.renditions, c.clips_enabled,
                EXISTS (SELECT 1 FROM bans b WHERE b.channel_id = s.channel_id AND b.user_id = ?2
                        AND (b.expires_at IS NULL OR b.expires_at > ?3)) AS is_banned
         FROM streams s JOIN channels c ON c.id = s.channel_id WHERE s.id = ?1`,
    )
    .bind(body.stream_id, userId, Date.now())
    .first();
  if (!found) throw notFound('Stream');
  const stream = StreamFacts.extend({ clips_enabled: z.number(), is_banned: z.number() }).parse(found);
  if (stream.clips_enabled === 0) {
    throw new ApiError(403, 'clips_disabled', 'This channel has turned clipping off');
  }
  if (stream.is_banned === 1) {
    throw new ApiError(403, 'banned', 'You are banned or timed out in this channel');
  }
  if (stream.status === 'pending') throw unprocessable('The stream has not started');
  const window = await resolveClipWindow(scope.env, stream, body.offset_seconds, body.duration_seconds);
  // Counted once the request is known to be clippable: a rejected window costs no allowance.
  await enforceRateLimit(
    scope.env,
    readRateLimit(scope.env, 'clips_per_user'),
    userId,
    'You have made too many clips; try again after Retry-After seconds',
  );
  await enforceRateLimit(
    scope.env,
    readRateLimit(scope.env, 'clips_per_channel'),
    stream.channel_id,
    'This channel has had too many clips made; try again after Retry-After seconds',
  );
  const clipId = crypto.randomUUID();
  const now = Date.now();
  await db
    .prepare(
      `INSERT INTO clips (id, stream_id, vod_id, channel_id, creator_id, title, duration_seconds, offset_seconds,
                            window_start, window_end, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'processing', ?)`,
    )
    .bind(
      clipId,
      stream.id,
      window.vodId,
      stream.channel_id,
      userId,
      body.title,
      body.duration_seconds,
      body.offset_seconds,
      Math.round(window.windowStart),
      Math.round(window.windowStart + body.duration_seconds * 1000),
      now,
    )
    .run();
  await publishEvent(scope.env.CLIP_REQUESTS, createEvent('clip.requested', { clip_id: clipId }, now));
  return { clip_id: clipId, url: `${readRequestOrigin(scope)}${getClipPath(clipId)}`, status: 'processing' };
}

export const clipsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/clips',
      tags: ['clips'],
      summary: 'Clip a live stream or a VOD; the MP4 is cut in the background',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(CreateClipBody) },
      responses: {
        202: jsonContent(ClipCreatedSchema, 'Queued'),
        ...describeErrors(400, 401, 403, 404, 422, 429),
      },
    }),
    async (c) => c.json(await requestClip(c, c.var.user.id, c.req.valid('json')), 202),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/clips/{id}',
      tags: ['clips'],
      summary: 'One clip and its status',
      request: { params: IdParam },
      responses: { 200: jsonContent(ClipSchema, 'The clip'), ...describeErrors(404) },
    }),
    async (c) => c.json(await requireClip(c.env.DB, c, c.req.valid('param').id), 200),
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/clips/{id}',
      tags: ['clips'],
      summary: "Retitle a clip (its creator, the channel owner or the channel's moderators)",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: IdParam, body: jsonBody(ClipPatch) },
      responses: { 200: jsonContent(ClipSchema, 'The clip'), ...describeErrors(400, 401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await requireClipManager(c.env.DB, id, c.var.user.id);
      await c.env.DB.prepare('UPDATE clips SET title = ? WHERE id = ?')
        .bind(c.req.valid('json').title, id)
        .run();
      return c.json(await requireClip(c.env.DB, c, id), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/clips/{id}',
      tags: ['clips'],
      summary: "Delete a clip and its media (its creator, the channel owner or the channel's moderators)",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...describeErrors(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await requireClipManager(c.env.DB, id, c.var.user.id);
      // The row goes first: from then on the clip is gone from the API, and a clip job still
      // running finds no row to settle (workers/clips/clip-job.ts).
      await c.env.DB.prepare('DELETE FROM clips WHERE id = ?').bind(id).run();
      await c.env.MEDIA.delete([getClipKey(id), getClipThumbnailKey(id)]);
      // This location's edge cache may hold the media; other locations expire it (Cache-Control).
      const origin = readRequestOrigin(c);
      await Promise.all(
        [getClipPath(id), getClipThumbnailPath(id)].map((path) => caches.default.delete(`${origin}${path}`)),
      );
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/clips/{id}/views',
      tags: ['clips'],
      summary: 'Count one view of a clip (the player calls it once per playback)',
      request: { params: IdParam },
      responses: { 204: { description: 'Counted' }, ...describeErrors(404, 422) },
    }),
    async (c) => {
      const id = c.req.valid('param').id;
      const clip = await requireClip(c.env.DB, c, id);
      if (clip.status !== 'ready') throw unprocessable('Only a ready clip can be viewed');
      // Replays and scripts from one network count once per window; the player is not told.
      const counted = await consumeRateLimit(
        c.env,
        readRateLimit(c.env, 'clip_views_per_network'),
        `${id}|${readClientNetwork(c)}`,
      );
      if (counted) {
        await c.env.DB.prepare(
          "UPDATE clips SET view_count = view_count + 1 WHERE id = ? AND status = 'ready'",
        )
          .bind(id)
          .run();
      }
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/clips',
      tags: ['clips'],
      summary: "A channel's ready clips, most recent or most viewed first",
      request: { params: IdParam, query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ data: z.array(ClipSchema), cursor: z.string().nullable() }).openapi('ClipPage'),
          'A page of clips',
        ),
        ...describeErrors(400, 404),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      const query = c.req.valid('query');
      const keyColumn = query.sort === 'top' ? 'cl.view_count' : 'cl.created_at';
      const where = ['cl.channel_id = ?', "cl.status = 'ready'"];
      const params: (string | number)[] = [channel.id];
      let after: { key: number; id: string } | null = null;
      if (query.cursor !== undefined) {
        const position = decodeCursor(ClipCursor, query.cursor);
        if (!position || position.sort !== query.sort) throw badRequest('Invalid cursor for this sort');
        after = position;
      }
      const { page, cursor } = await queryKeysetPage(c.env.DB, {
        select: CLIP_SELECT,
        where,
        params,
        keyColumn,
        idColumn: 'cl.id',
        after,
        limit: query.limit,
        parse: (row) => ClipRow.parse(row),
        positionOf: (last) => ({
          sort: query.sort,
          key: query.sort === 'top' ? last.view_count : last.created_at,
          id: last.id,
        }),
      });
      return c.json({ data: page.map((row) => toClip(c, row)), cursor }, 200);
    },
  );
