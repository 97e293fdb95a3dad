// Playback of past broadcasts and clips: /vod/{vod}/master.m3u8, /vod/{vod}/{rendition}.m3u8,
// /vod/{vod}/manifest.mpd, the segments and inits under /vod/{vod}/{rendition}/ (read from the
// live stream's own R2 keys), the VOD thumbnail, and /clips/{clip}.mp4 with its thumbnail
// /clips/{clip}.jpg. Range, HEAD and ETag come from serveMediaObject; CORS is open, as for live
// playback. Which stream a VOD plays is looked up once per isolate (vod-lookup.ts), not per segment.
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import { getMediaKey, getThumbnailKey, parseMediaFileName } from '../../media/live-keys.ts';
import {
  getClipKey,
  getClipThumbnailKey,
  getVodManifestKey,
  getVodMasterKey,
  getVodPlaylistKey,
} from '../../media/vod-keys.ts';
import { RenditionName } from '../../protocol/ingest.ts';
import { badRequest, handleError, notFound } from '../shared/errors.ts';
import { findVodStream } from '../vod/vod-lookup.ts';
import { serveMediaObject } from './serve-media.ts';

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
for (const path of ['/vod/*', '/clips/*']) {
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

export type VodPlaybackApp = typeof vodPlaybackApp;
