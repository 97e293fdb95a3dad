// Streams: going live (POST /streams/start), the viewer's view of a live stream, browsing live
// streams, and editing a stream's info. Shapes as docs/api.md lists them.
import { createRoute, z } from '@hono/zod-openapi';
import { MAX_TITLE_LENGTH } from '../../../protocol/limits.ts';
import { optionalUser, requireUser } from '../../shared/auth.ts';
import { badRequest, forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import { buildSrtUrl, deriveStreamKey } from '../../shared/stream-keys.ts';
import { decodeCursor, queryKeysetPage } from '../lib/cursor.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import { updateStreamInfo } from '../lib/stream-info.ts';
import {
  type Category,
  CategoryRef,
  findCategory,
  LanguageInput,
  LiveStreamSchema,
  STREAM_SELECT,
  StreamRow,
  TagInput,
  TagsInput,
  toLiveStream,
} from '../lib/views.ts';
import { markStreamKeyReissue } from '../middleware/idempotency.ts';
import { requireOwnedChannel } from './channels.ts';

/** What we tell OBS users (docs/api.md, `recommended_settings`): 1080p60 at 6 Mbps CBR, x264, a keyframe every 2 s. */
export const RECOMMENDED_SETTINGS = {
  resolution: '1920x1080',
  fps: 60,
  bitrate: '6000 kbps',
  keyframe_interval: 2,
  encoder: 'x264',
  rate_control: 'CBR',
} as const;

const StartStreamBody = z
  .object({
    channel_id: z.string().min(1).max(100),
    title: z.string().trim().max(MAX_TITLE_LENGTH).optional(),
    category: CategoryRef.optional(),
    tags: TagsInput.optional(),
    language: LanguageInput.optional(),
  })
  .openapi('StartStream');
const StartStreamResponse = z
  .object({
    stream_id: z.string(),
    ingest_url: z.string(),
    /** The fleet's second front address, for an encoder's backup server (docs/deploy.md). */
    backup_ingest_url: z.string(),
    secure_ingest_url: z.string(),
    /** WHIP endpoint (RFC 9725): POST an SDP offer with `Authorization: Bearer <stream_key>`. */
    whip_url: z.string(),
    /** SRT ingest (docs/srt.md): the address with the stream key as streamid and the passphrase. */
    srt_url: z.string(),
    stream_key: z.string(),
    recommended_settings: z.object({
      resolution: z.string(),
      fps: z.number(),
      bitrate: z.string(),
      keyframe_interval: z.number(),
      encoder: z.string(),
      rate_control: z.string(),
    }),
  })
  .openapi('StartedStream');
/**
 * The live stream as its watch page gets it, with the WHEP endpoint (draft-ietf-wish-whep) for
 * real-time WebRTC playback beside the LL-HLS manifest: the transcoder serves it on its WHIP port
 * (docs/webrtc.md). A node that does not carry the stream, or is at its viewer cap, refuses the
 * offer (404 / 503), and the player stays on LL-HLS.
 */
/** The source's health while live (durable-objects/live-stream/stream-health.ts): the owner's dashboard. */
const StreamHealthSchema = z
  .object({
    bitrate_bps: z.number().nullable(),
    median_bitrate_bps: z.number().nullable(),
    source_fps: z.number().nullable(),
    encode_fps: z.number().nullable(),
    keyframe_interval_ms: z.number().nullable(),
    audio_present: z.boolean(),
    encode_speed: z.number().nullable(),
    updated_at: z.number(),
    warnings: z.array(
      z.object({
        code: z.enum(['bitrate_drop', 'fps_below_source', 'keyframe_interval', 'no_audio', 'encoder_slow']),
        message: z.string(),
      }),
    ),
  })
  .openapi('StreamHealth');

const WatchableStreamSchema = LiveStreamSchema.extend({
  whep_url: z.string(),
  /** Only for the channel's owner, and only once the transcoder reported. */
  health: StreamHealthSchema.optional(),
}).openapi('WatchableStream');

/** `http://host:8889/whip` → `http://host:8889/whep/{channel_id}`: WHEP shares the WHIP port. */
function buildWhepUrl(whipIngestUrl: string, channelId: string): string {
  return new URL(`whep/${encodeURIComponent(channelId)}`, new URL('./', whipIngestUrl)).toString();
}

const StreamSchema = LiveStreamSchema.extend({ status: z.enum(['pending', 'live', 'ended']) }).openapi(
  'Stream',
);
const StreamPatch = z
  .object({
    title: z.string().trim().max(MAX_TITLE_LENGTH),
    category: CategoryRef,
    tags: TagsInput,
    language: LanguageInput,
  })
  .partial()
  .strict()
  .openapi('StreamPatch');

export const STREAM_SORTS = ['viewers_desc', 'started_desc'] as const;
const ListQuery = z.object({
  category: z.string().max(100).optional(),
  language: z.string().max(10).optional(),
  /** One tag (case-insensitive); the directory's tag chips. */
  tag: TagInput.optional(),
  sort: z.enum(STREAM_SORTS).default('viewers_desc'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
/** Keyset position: the sort key of the last item and its id (the tie-breaker). */
const StreamCursor = z.object({ sort: z.enum(STREAM_SORTS), key: z.number(), id: z.string() });

async function resolveCategoryOrThrow(db: D1Database, ref: string | number): Promise<Category> {
  const category = await findCategory(db, ref);
  if (!category) throw unprocessable(`Unknown category: ${ref}`);
  return category;
}

export const streamsApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/start',
      tags: ['streams'],
      summary: 'Get ready to go live: creates (or returns) the pending stream and the ingest details',
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { body: jsonBody(StartStreamBody) },
      responses: {
        200: jsonContent(StartStreamResponse, 'Where and how to publish'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const channel = await requireOwnedChannel(c, body.channel_id, c.var.user.id);
      const category =
        body.category === undefined ? undefined : await resolveCategoryOrThrow(c.env.DB, body.category);
      const db = c.env.DB;
      // The channel's defaults (and a stream already open) take the new values first, so a new
      // stream row copies the merged info.
      await updateStreamInfo(c.env, channel.id, {
        title: body.title,
        category_id: category?.id,
        tags: body.tags,
        language: body.language,
      });
      // Idempotent: a second start while a stream is pending or live returns that stream. The
      // NOT EXISTS guard inside one statement keeps two concurrent starts from making two rows.
      const results = await db.batch([
        db
          .prepare(
            `INSERT INTO streams (id, channel_id, title, category_id, language, tags, status, created_at)
             SELECT ?, c.id, c.title, c.category_id, c.language, c.tags, 'pending', ?
             FROM channels c WHERE c.id = ?
               AND NOT EXISTS (SELECT 1 FROM streams WHERE channel_id = c.id AND status IN ('pending', 'live'))`,
          )
          .bind(crypto.randomUUID(), Date.now(), channel.id),
        db
          .prepare(
            `SELECT id FROM streams WHERE channel_id = ? AND status IN ('pending', 'live')
             ORDER BY created_at DESC LIMIT 1`,
          )
          .bind(channel.id),
      ]);
      const stream = z.object({ id: z.string() }).parse(results.at(-1)?.results[0]);
      markStreamKeyReissue(c, channel.id);
      const streamKey = await deriveStreamKey(
        c.env.STREAM_KEY_SECRET,
        channel.id,
        channel.stream_key_version,
      );
      return c.json(
        {
          stream_id: stream.id,
          ingest_url: c.env.RTMP_INGEST_URL,
          backup_ingest_url: c.env.BACKUP_RTMP_INGEST_URL,
          secure_ingest_url: c.env.RTMPS_INGEST_URL,
          whip_url: c.env.WHIP_INGEST_URL,
          srt_url: await buildSrtUrl(c.env.SRT_INGEST_URL, c.env.STREAM_KEY_SECRET, streamKey),
          stream_key: streamKey,
          recommended_settings: RECOMMENDED_SETTINGS,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{channel_id}/live',
      tags: ['streams'],
      summary: "A channel's live stream (by channel id or name); its owner also gets the stream's health",
      middleware: [optionalUser] as const,
      request: {
        params: z.object({
          channel_id: pathParam('channel_id'),
        }),
      },
      responses: { 200: jsonContent(WatchableStreamSchema, 'The live stream'), ...describeErrors(404) },
    }),
    async (c) => {
      const row = await c.env.DB.prepare(
        `${STREAM_SELECT} WHERE (ch.id = ?1 OR ch.name = ?1) AND s.status = 'live'
         ORDER BY s.started_at DESC LIMIT 1`,
      )
        .bind(c.req.valid('param').channel_id)
        .first();
      if (!row) throw notFound('Live stream');
      const stream = toLiveStream(c, StreamRow.parse(row));
      const whepUrl = buildWhepUrl(c.env.WHIP_INGEST_URL, stream.channel.id);
      // The owner's dashboard polls this: the health warnings are for the streamer only.
      const health =
        c.var.user?.channel_id === stream.channel.id
          ? await c.env.LIVE_STREAM.getByName(stream.channel.id).readHealth()
          : null;
      return c.json({ ...stream, whep_url: whepUrl, ...(health ? { health } : {}) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['streams'],
      summary: 'Browse live streams',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ data: z.array(LiveStreamSchema), cursor: z.string().nullable() }).openapi('StreamPage'),
          'A page of live streams',
        ),
        ...describeErrors(400),
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const where = ["s.status = 'live'"];
      const params: (string | number)[] = [];
      if (query.category !== undefined) {
        const category = await findCategory(c.env.DB, query.category);
        // An unknown category has no live streams.
        if (!category) return c.json({ data: [], cursor: null }, 200);
        where.push('s.category_id = ?');
        params.push(category.id);
      }
      if (query.language !== undefined) {
        where.push('s.language = ? COLLATE NOCASE');
        params.push(query.language);
      }
      if (query.tag !== undefined) {
        where.push('EXISTS (SELECT 1 FROM json_each(s.tags) WHERE value = ? COLLATE NOCASE)');
        params.push(query.tag);
      }
      const keyColumn = query.sort === 'viewers_desc' ? 's.viewer_count' : 'coalesce(s.started_at, 0)';
      let after: { key: number; id: string } | null = null;
      if (query.cursor !== undefined) {
        const position = decodeCursor(StreamCursor, query.cursor);
        if (!position || position.sort !== query.sort) throw badRequest('Invalid cursor for this sort');
        after = position;
      }
      const { page, cursor } = await queryKeysetPage(c.env.DB, {
        select: STREAM_SELECT,
        where,
        params,
        keyColumn,
        idColumn: 's.id',
        after,
        limit: query.limit,
        parse: (row) => StreamRow.parse(row),
        positionOf: (last) => ({
          sort: query.sort,
          key: query.sort === 'viewers_desc' ? last.viewer_count : (last.started_at ?? 0),
          id: last.stream_id,
        }),
      });
      return c.json({ data: page.map((row) => toLiveStream(c, row)), cursor }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['streams'],
      summary: "Edit a pending or live stream's info",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: {
        params: z.object({
          id: pathParam('id'),
        }),
        body: jsonBody(StreamPatch),
      },
      responses: { 200: jsonContent(StreamSchema, 'The stream'), ...describeErrors(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const db = c.env.DB;
      const streamId = c.req.valid('param').id;
      const found = await db.prepare(`${STREAM_SELECT} WHERE s.id = ?`).bind(streamId).first();
      if (!found) throw notFound('Stream');
      const stream = StreamRow.parse(found);
      if (stream.channel_id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may edit its streams');
      if (stream.status === 'ended') throw unprocessable('The stream has ended; its info is final');
      const patch = c.req.valid('json');
      const category =
        patch.category === undefined ? undefined : await resolveCategoryOrThrow(db, patch.category);
      // The stream's info is its channel's: the channel's defaults take the edit too.
      await updateStreamInfo(c.env, stream.channel_id, {
        title: patch.title,
        category_id: category?.id,
        tags: patch.tags,
        language: patch.language,
      });
      const updated = StreamRow.parse(
        await db.prepare(`${STREAM_SELECT} WHERE s.id = ?`).bind(streamId).first(),
      );
      return c.json({ ...toLiveStream(c, updated), status: updated.status }, 200);
    },
  );
