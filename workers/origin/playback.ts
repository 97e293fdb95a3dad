// Public LL-HLS playback: the multivariant and media playlists (rendered by the channel's
// LiveStream DO, which also holds blocking reloads), and parts, segments, init segments and
// thumbnails from R2. Playlists come from the DO's memory; media from R2, after a check that the
// stream's VOD has not been deleted (one D1 read per stream per isolate per 30 s, vod-lookup.ts).
// Identical requests collapse twice over: in the edge cache (blocking playlists, whose URL names
// the future, and media, which never changes under its URL) and, within an isolate, onto one call
// to the LiveStream object while they wait for the same part (edge-cache.ts). Both keys are built
// from the validated route, never the raw URL (playback-query.ts): another spelling of the same
// file, path or directive is the same key or a 404, so it cannot miss the cache or hold one more
// request in the object (docs/security.md).
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import type { PartOutcome, PlaylistOutcome } from '../../durable-objects/live-stream/types.ts';
import { getMediaKey, getPartKey, getThumbnailKey, parseMediaFileName } from '../../media/live-keys.ts';
import { RenditionName } from '../../protocol/ingest.ts';
import { handleError, notFound } from '../shared/errors.ts';
import { isStreamWithdrawn } from '../vod/vod-lookup.ts';
import {
  createInFlight,
  isPlainGet,
  MAX_BUFFERED_MEDIA_BYTES,
  matchEdgeCache,
  putEdgeCache,
} from './edge-cache.ts';
import { toApiError } from './outcomes.ts';
import {
  getMediaCacheKey,
  getPartWaitKey,
  getPlaylistKey,
  readPlaylistDirectives,
  refuseQuery,
} from './playback-query.ts';
import { serveBytes, serveMediaObject } from './serve-media.ts';

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
// `video/mp4` rather than `video/iso.segment` for .m4s: every player, CDN and browser knows it,
// fMP4 parts are MP4 fragments, and Apple's own examples serve them so.
const MEDIA_TYPE = 'video/mp4';

// "blocking playlist responses can be cached for 6 × TD because their URL names the future;
// non-blocking playlist responses only ~0.5 × TD; parts, segments and init segments for a long time."
const BLOCKING_PLAYLIST_CACHE = 'public, max-age=12';
const PLAYLIST_CACHE = 'public, max-age=1';
const MULTIVARIANT_CACHE = 'public, max-age=2';
const MEDIA_CACHE = 'public, max-age=31536000, immutable';
const THUMBNAIL_CACHE = 'public, max-age=10';

/**
 * Channel ids are UUIDs (crypto.randomUUID), in lower case as they are made. Anything else is a 404
 * before the LiveStream object is addressed: a random path must not make the platform create (and
 * store) an object for it, and an upper-case spelling must not address a second, empty object.
 */
const ChannelId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const ChannelPath = z.object({ channelId: ChannelId });

const pathHook = (result: { success: boolean }) => {
  if (!result.success) throw notFound('Live stream');
};

/** What a part request waits for, shared by every viewer asking for the same part. */
type PartAnswer =
  | { kind: 'ok'; bytes: ArrayBuffer; etag: string; publish: number }
  | Exclude<PartOutcome, { kind: 'ok' }>;

const sharePlaylist = createInFlight<PlaylistOutcome>();
const sharePart = createInFlight<PartAnswer>();
const StreamId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);

export const playbackApp = new Hono<{ Bindings: Env }>();
playbackApp.onError(handleError);
playbackApp.use(
  '*',
  cors({
    origin: '*',
    allowMethods: ['GET', 'HEAD'],
    exposeHeaders: ['Content-Length', 'Content-Range', 'ETag'],
  }),
);
// A 404 for media that does not exist yet must not be cached: it will exist a moment later.
playbackApp.use('*', async (c, next) => {
  await next();
  if (c.res.status >= 400) c.res.headers.set('Cache-Control', 'no-store');
});

playbackApp.get('/:channelId/master.m3u8', zValidator('param', ChannelPath, pathHook), async (c) => {
  refuseQuery(new URL(c.req.url));
  const { channelId } = c.req.valid('param');
  const body = await c.env.LIVE_STREAM.getByName(channelId).getMultivariantPlaylist();
  if (body === null) throw notFound('Live stream');
  return c.body(body, 200, { 'Content-Type': PLAYLIST_TYPE, 'Cache-Control': MULTIVARIANT_CACHE });
});

playbackApp.get(
  '/:channelId/:playlist{[^/]+\\.m3u8}',
  zValidator('param', ChannelPath.extend({ playlist: z.string() }), pathHook),
  async (c) => {
    const { channelId, playlist } = c.req.valid('param');
    const rendition = RenditionName.safeParse(playlist.slice(0, -'.m3u8'.length));
    if (!rendition.success) throw notFound('Playlist');
    const url = new URL(c.req.url);
    const query = readPlaylistDirectives(url);
    const key = getPlaylistKey(url.origin, channelId, rendition.data, query);
    const blocking = query._HLS_msn !== undefined;
    if (blocking) {
      const hit = await matchEdgeCache(key, c.req.raw);
      if (hit) return hit;
    }
    const { value: result, leader } = await sharePlaylist(key, () =>
      c.env.LIVE_STREAM.getByName(channelId).getMediaPlaylist(rendition.data, {
        msn: query._HLS_msn,
        part: query._HLS_part,
        skip: query._HLS_skip !== undefined,
      }),
    );
    if (result.kind !== 'ok') throw toApiError(result);
    const response = c.body(result.body, 200, {
      'Content-Type': PLAYLIST_TYPE,
      'Cache-Control': result.blocking ? BLOCKING_PLAYLIST_CACHE : PLAYLIST_CACHE,
    });
    // "blocking playlist responses can be cached for 6 × TD because their URL names the future."
    if (leader && result.blocking) putEdgeCache(c.executionCtx, key, response);
    return response;
  },
);

playbackApp.get(
  '/:channelId/:streamId/thumbnail.jpg',
  zValidator('param', ChannelPath.extend({ streamId: StreamId }), pathHook),
  async (c) => {
    refuseQuery(new URL(c.req.url));
    const { streamId } = c.req.valid('param');
    if (await isStreamWithdrawn(c.env.DB, streamId)) throw notFound('Thumbnail');
    const response = await serveMediaObject(c.env.MEDIA, getThumbnailKey(streamId), c.req.raw, {
      contentType: 'image/jpeg',
      cacheControl: THUMBNAIL_CACHE,
    });
    if (!response) throw notFound('Thumbnail');
    return response;
  },
);

playbackApp.get(
  '/:channelId/:streamId/:rendition/:file',
  zValidator(
    'param',
    ChannelPath.extend({ streamId: StreamId, rendition: RenditionName, file: z.string() }),
    pathHook,
  ),
  async (c) => {
    const { channelId, streamId, rendition, file: fileName } = c.req.valid('param');
    const url = new URL(c.req.url);
    refuseQuery(url);
    const file = parseMediaFileName(fileName);
    if (!file) throw notFound('Media file');
    const key = getMediaCacheKey(url.origin, streamId, rendition, file);
    // A deleted VOD's media is gone for viewers at once, whichever URL names it; its cached copies
    // go too, as they are asked for (the edge cache is per data center and has no listing).
    if (await isStreamWithdrawn(c.env.DB, streamId)) {
      c.executionCtx.waitUntil(caches.default.delete(key));
      throw notFound('Media file');
    }
    const hit = await matchEdgeCache(key, c.req.raw);
    if (hit) return hit;
    const options = { contentType: MEDIA_TYPE, cacheControl: MEDIA_CACHE };
    const r2Key = getMediaKey(streamId, rendition, file);
    if (isPlainGet(c.req.raw)) {
      const found = await serveMediaObject(c.env.MEDIA, r2Key, c.req.raw, options);
      if (found) {
        putEdgeCache(c.executionCtx, key, found);
        return found;
      }
    } else {
      // A Range, HEAD or conditional request reads the whole object once and keeps it, so the
      // next one (whatever its range or ETag) is answered from the edge cache, not from R2.
      const object = await c.env.MEDIA.get(r2Key);
      if (object && object.size > MAX_BUFFERED_MEDIA_BYTES) {
        await object.body.cancel();
        const found = await serveMediaObject(c.env.MEDIA, r2Key, c.req.raw, options);
        if (found) return found;
      } else if (object) {
        const bytes = await object.arrayBuffer();
        putEdgeCache(c.executionCtx, key, serveBytes(bytes, object.httpEtag, new Request(key), options));
        return serveBytes(bytes, object.httpEtag, c.req.raw, options);
      }
    }
    if (file.kind !== 'part') throw notFound('Media file');
    // "A request for the hinted URI must wait until the part exists, not 404." Every viewer at the
    // live edge asks for the same hinted part at once, whole or by Range, GET or HEAD, under the
    // name of whichever publish was current when its playlist was rendered: one of them waits on
    // the LiveStream object and reads the part, the others get its bytes.
    const { value: part, leader } = await sharePart(
      getPartWaitKey(channelId, streamId, rendition, file),
      async () => {
        const waited = await c.env.LIVE_STREAM.getByName(channelId).waitForPart(
          streamId,
          rendition,
          file.msn,
          file.part,
        );
        if (waited.kind !== 'ok') return waited;
        const object = await c.env.MEDIA.get(
          getPartKey(streamId, rendition, file.msn, file.part, waited.publish),
        );
        if (!object) return { kind: 'not-found' };
        const bytes = await object.arrayBuffer();
        return { kind: 'ok', bytes, etag: object.httpEtag, publish: waited.publish };
      },
    );
    if (part.kind !== 'ok') throw toApiError(part);
    // A hint names the publish current when it was rendered, which a later publish may have
    // replaced before uploading the part; a publish after the one that uploaded it names nothing.
    if (file.publish > part.publish) throw notFound('Media file');
    if (leader) {
      const uploaded = getMediaCacheKey(url.origin, streamId, rendition, { ...file, publish: part.publish });
      putEdgeCache(
        c.executionCtx,
        uploaded,
        serveBytes(part.bytes, part.etag, new Request(uploaded), options),
      );
    }
    return serveBytes(part.bytes, part.etag, c.req.raw, options);
  },
);
