// Playback of past broadcasts and clips: /vod/{vod}/master.m3u8, /vod/{vod}/{rendition}.m3u8,
// /vod/{vod}/manifest.mpd, the segments and inits under /vod/{vod}/{rendition}/ (read from the
// live stream's own R2 keys) and their single-track copies under {rendition}/track-{id}/ for DASH, the VOD thumbnail, and /clips/{clip}.mp4 with its thumbnail
// /clips/{clip}.jpg. Range, HEAD and ETag come from serveMediaObject; CORS is open, as for live
// playback. Which stream a VOD plays is looked up once per isolate (vod-lookup.ts), not per segment.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import { extractTrackInit, extractTrackSegment } from '../../media/dash/single-track.ts';
import { getMediaKey, getThumbnailKey, parseMediaFileName } from '../../media/live-keys.ts';
import { BoxFormatError } from '../../media/mp4/boxes.ts';
import {
  getClipKey,
  getClipThumbnailKey,
  getHighlightMasterKey,
  getHighlightPlaylistKey,
  getVodManifestKey,
  getVodMasterKey,
  getVodPlaylistKey,
} from '../../media/vod-keys.ts';
import { RenditionName } from '../../protocol/ingest.ts';
import { badRequest, handleError, notFound, unprocessable } from '../shared/errors.ts';
import { findHighlightRange } from '../vod/highlights.ts';
import { findVodStream } from '../vod/vod-lookup.ts';
import { MAX_BUFFERED_MEDIA_BYTES, matchEdgeCache, putEdgeCache } from './edge-cache.ts';
import { serveBytes, serveMediaObject } from './serve-media.ts';

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** Segments, inits and clips never change under their URL. */
const MEDIA_CACHE = 'public, max-age=31536000, immutable';
/**
 * A finished VOD's playlists never change either, but a DELETE must make them 404: five minutes
 * bounds how long an edge cache can keep serving a deleted VOD's playlists.
 */
const PLAYLIST_CACHE = 'public, max-age=300';
const THUMBNAIL_CACHE = 'public, max-age=3600';

const validationHook = (result: { success: boolean; error?: { issues: unknown } }) => {
  if (!result.success) throw badRequest('Request validation failed', result.error?.issues);
};

const Id = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);
const VodPath = z.object({ vodId: Id });

export const vodPlaybackApp = new Hono<{ Bindings: Env }>();
vodPlaybackApp.onError(handleError);
// The app is mounted at the root, so its middleware names its own paths rather than '*'.
for (const path of ['/vod/*', '/clips/*', '/highlights/*']) {
  vodPlaybackApp.use(
    path,
    cors({
      origin: '*',
      allowMethods: ['GET', 'HEAD'],
      exposeHeaders: ['Content-Length', 'Content-Range', 'ETag'],
    }),
  );
  // A miss may become a hit (a clip still processing): never cache an error.
  vodPlaybackApp.use(path, async (c, next) => {
    await next();
    if (c.res.status >= 400) c.res.headers.set('Cache-Control', 'no-store');
  });
}

vodPlaybackApp.get('/vod/:vodId/master.m3u8', zValidator('param', VodPath, validationHook), async (c) => {
  const key = getVodMasterKey(c.req.valid('param').vodId);
  const response = await serveMediaObject(c.env.MEDIA, key, c.req.raw, {
    contentType: PLAYLIST_TYPE,
    cacheControl: PLAYLIST_CACHE,
  });
  if (!response) throw notFound('VOD');
  return response;
});

vodPlaybackApp.get('/vod/:vodId/manifest.mpd', zValidator('param', VodPath, validationHook), async (c) => {
  const key = getVodManifestKey(c.req.valid('param').vodId);
  const response = await serveMediaObject(c.env.MEDIA, key, c.req.raw, {
    contentType: 'application/dash+xml',
    cacheControl: PLAYLIST_CACHE,
  });
  if (!response) throw notFound('VOD');
  return response;
});

vodPlaybackApp.get('/vod/:vodId/thumbnail.jpg', zValidator('param', VodPath, validationHook), async (c) => {
  const streamId = await findVodStream(c.env.DB, c.req.valid('param').vodId);
  if (!streamId) throw notFound('VOD');
  const response = await serveMediaObject(c.env.MEDIA, getThumbnailKey(streamId), c.req.raw, {
    contentType: 'image/jpeg',
    cacheControl: THUMBNAIL_CACHE,
  });
  if (!response) throw notFound('Thumbnail');
  return response;
});

vodPlaybackApp.get(
  '/vod/:vodId/:playlist{[^/]+\\.m3u8}',
  zValidator('param', VodPath.extend({ playlist: z.string() }), validationHook),
  async (c) => {
    const { vodId, playlist } = c.req.valid('param');
    const rendition = RenditionName.safeParse(playlist.slice(0, -'.m3u8'.length));
    if (!rendition.success) throw notFound('Playlist');
    const response = await serveMediaObject(
      c.env.MEDIA,
      getVodPlaylistKey(vodId, rendition.data),
      c.req.raw,
      {
        contentType: PLAYLIST_TYPE,
        cacheControl: PLAYLIST_CACHE,
      },
    );
    if (!response) throw notFound('Playlist');
    return response;
  },
);

/** The edge-cache key of a derived single-track file: the stream's media it is cut from, and the track. */
function getTrackCacheKey(
  origin: string,
  streamId: string,
  rendition: string,
  trackId: number,
  file: string,
) {
  return new URL(`/vod/media/${streamId}/${rendition}/track-${trackId}/${file}`, origin).toString();
}

// One track of a muxed rendition's init or segment, for the DASH MPD's single-component
// Representations (media/dash/single-track.ts). Derived on the first request and kept in the edge
// cache: the stored bytes never change, so neither does the derived copy.
vodPlaybackApp.get(
  '/vod/:vodId/:rendition/:track{track-[0-9]{1,3}}/:file',
  zValidator(
    'param',
    VodPath.extend({ rendition: RenditionName, track: z.string(), file: z.string() }),
    validationHook,
  ),
  async (c) => {
    const { vodId, rendition, track, file: fileName } = c.req.valid('param');
    const trackId = Number(track.slice('track-'.length));
    const file = parseMediaFileName(fileName);
    if (!file || file.kind === 'part') throw notFound('Media file');
    const streamId = await findVodStream(c.env.DB, vodId);
    if (!streamId) throw notFound('VOD');
    const url = new URL(c.req.url);
    const key = getTrackCacheKey(url.origin, streamId, rendition, trackId, fileName);
    const hit = await matchEdgeCache(key, c.req.raw);
    if (hit) return hit;
    const object = await c.env.MEDIA.get(getMediaKey(streamId, rendition, file));
    if (!object) throw notFound('Media file');
    // Read whole to be rewritten: bounded like every buffered media object (edge-cache.ts).
    if (object.size > MAX_BUFFERED_MEDIA_BYTES) {
      await object.body.cancel();
      throw unprocessable('The media file is too large to split by track');
    }
    const bytes = new Uint8Array(await object.arrayBuffer());
    let derived: Uint8Array;
    try {
      derived = file.kind === 'init' ? extractTrackInit(bytes, trackId) : extractTrackSegment(bytes, trackId);
    } catch (error) {
      if (!(error instanceof BoxFormatError)) throw error;
      // No such track, or bytes that are not CMAF: nothing of that track to serve.
      throw notFound('Track');
    }
    const body = derived.slice().buffer;
    const etag = `"${object.etag}-t${trackId}"`;
    const options = { contentType: 'video/mp4', cacheControl: MEDIA_CACHE };
    putEdgeCache(c.executionCtx, key, serveBytes(body, etag, new Request(key), options));
    return serveBytes(body, etag, c.req.raw, options);
  },
);

vodPlaybackApp.get(
  '/vod/:vodId/:rendition/:file',
  zValidator('param', VodPath.extend({ rendition: RenditionName, file: z.string() }), validationHook),
  async (c) => {
    const { vodId, rendition, file: fileName } = c.req.valid('param');
    const file = parseMediaFileName(fileName);
    // A VOD lists whole segments only; parts are live-edge media with their own retention.
    if (!file || file.kind === 'part') throw notFound('Media file');
    const streamId = await findVodStream(c.env.DB, vodId);
    if (!streamId) throw notFound('VOD');
    const response = await serveMediaObject(c.env.MEDIA, getMediaKey(streamId, rendition, file), c.req.raw, {
      contentType: 'video/mp4',
      cacheControl: MEDIA_CACHE,
    });
    if (!response) throw notFound('Media file');
    return response;
  },
);

vodPlaybackApp.get(
  '/clips/:file{[^/]+\\.mp4}',
  zValidator('param', z.object({ file: z.string() }), validationHook),
  async (c) => {
    const clipId = Id.safeParse(c.req.valid('param').file.slice(0, -'.mp4'.length));
    if (!clipId.success) throw notFound('Clip');
    const response = await serveMediaObject(c.env.MEDIA, getClipKey(clipId.data), c.req.raw, {
      contentType: 'video/mp4',
      cacheControl: MEDIA_CACHE,
    });
    if (!response) throw notFound('Clip');
    return response;
  },
);

vodPlaybackApp.get(
  '/clips/:file{[^/]+\\.jpg}',
  zValidator('param', z.object({ file: z.string() }), validationHook),
  async (c) => {
    const clipId = Id.safeParse(c.req.valid('param').file.slice(0, -'.jpg'.length));
    if (!clipId.success) throw notFound('Clip thumbnail');
    const response = await serveMediaObject(c.env.MEDIA, getClipThumbnailKey(clipId.data), c.req.raw, {
      contentType: 'image/jpeg',
      cacheControl: MEDIA_CACHE,
    });
    if (!response) throw notFound('Clip thumbnail');
    return response;
  },
);

// Highlights (workers/vod/highlights.ts): their own playlists, and the segments of their range read
// from the stream's keys, which the retention sweep leaves in place. Nothing outside the range is
// served under a highlight's path, so a highlight of a deleted VOD does not reopen the rest of it.
const HighlightPath = z.object({ highlightId: Id });

vodPlaybackApp.get(
  '/highlights/:highlightId/:playlist{[^/]+\\.m3u8}',
  zValidator('param', HighlightPath.extend({ playlist: z.string() }), validationHook),
  async (c) => {
    const { highlightId, playlist } = c.req.valid('param');
    const name = playlist.slice(0, -'.m3u8'.length);
    let key: string;
    if (name === 'master') key = getHighlightMasterKey(highlightId);
    else {
      const rendition = RenditionName.safeParse(name);
      if (!rendition.success) throw notFound('Playlist');
      key = getHighlightPlaylistKey(highlightId, rendition.data);
    }
    // A highlight is never edited: its playlists are as immutable as its media.
    const response = await serveMediaObject(c.env.MEDIA, key, c.req.raw, {
      contentType: PLAYLIST_TYPE,
      cacheControl: MEDIA_CACHE,
    });
    if (!response) throw notFound('Highlight');
    return response;
  },
);

vodPlaybackApp.get(
  '/highlights/:highlightId/:rendition/:file',
  zValidator('param', HighlightPath.extend({ rendition: RenditionName, file: z.string() }), validationHook),
  async (c) => {
    const { highlightId, rendition, file: fileName } = c.req.valid('param');
    const file = parseMediaFileName(fileName);
    if (!file || file.kind === 'part') throw notFound('Media file');
    const range = await findHighlightRange(c.env.DB, highlightId);
    if (!range) throw notFound('Highlight');
    if (file.kind === 'segment' && (file.msn < range.first_msn || file.msn > range.last_msn))
      throw notFound('Media file');
    const response = await serveMediaObject(
      c.env.MEDIA,
      getMediaKey(range.stream_id, rendition, file),
      c.req.raw,
      { contentType: 'video/mp4', cacheControl: MEDIA_CACHE },
    );
    if (!response) throw notFound('Media file');
    return response;
  },
);

export type VodPlaybackApp = typeof vodPlaybackApp;
