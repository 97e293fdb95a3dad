// Where past broadcasts and clips live in R2, and the public paths the origin serves them under
// (workers/origin/vod-playback.ts). A VOD's own objects are only its playlists, its DASH manifest
// and its segment index; its media stays under the live stream's `streams/{stream_id}/` prefix
// (live-keys.ts), which is what makes archiving a broadcast free.
import type { RenditionName } from '../protocol/ingest.ts';

export function getVodPrefix(vodId: string): string {
  return `vods/${vodId}/`;
}

export function getVodMasterKey(vodId: string): string {
  return `vods/${vodId}/master.m3u8`;
}

export function getVodPlaylistKey(vodId: string, rendition: RenditionName): string {
  return `vods/${vodId}/${rendition}.m3u8`;
}

export function getVodManifestKey(vodId: string): string {
  return `vods/${vodId}/manifest.mpd`;
}

/** The VOD's own copy of the segment index (workers/vod/vod-index.ts); the LiveStream object forgets its rows. */
export function getVodIndexKey(vodId: string): string {
  return `vods/${vodId}/index.json`;
}

export function getStreamPrefix(streamId: string): string {
  return `streams/${streamId}/`;
}

export function getStreamPartsPrefix(streamId: string): string {
  return `parts/${streamId}/`;
}

export function getRenditionPrefix(streamId: string, rendition: RenditionName): string {
  return `streams/${streamId}/${rendition}/`;
}

export function getClipKey(clipId: string): string {
  return `clips/${clipId}.mp4`;
}

/** A clip's own copy of its stream's thumbnail: clips are kept forever, the VOD's media is not. */
export function getClipThumbnailKey(clipId: string): string {
  return `clips/${clipId}.jpg`;
}

/** The stable public paths the origin serves (workers/origin/vod-playback.ts). */
export function getVodPlaybackPath(vodId: string): string {
  return `/vod/${vodId}/master.m3u8`;
}

export function getVodDashPath(vodId: string): string {
  return `/vod/${vodId}/manifest.mpd`;
}

export function getVodThumbnailPath(vodId: string): string {
  return `/vod/${vodId}/thumbnail.jpg`;
}

export function getClipPath(clipId: string): string {
  return `/clips/${clipId}.mp4`;
}

export function getClipThumbnailPath(clipId: string): string {
  return `/clips/${clipId}.jpg`;
}

/** A highlight's own playlists (a saved range of a VOD): its media stays under the stream's prefix. */
export function getHighlightPrefix(highlightId: string): string {
  return `highlights/${highlightId}/`;
}

export function getHighlightMasterKey(highlightId: string): string {
  return `highlights/${highlightId}/master.m3u8`;
}

export function getHighlightPlaylistKey(highlightId: string, rendition: RenditionName): string {
  return `highlights/${highlightId}/${rendition}.m3u8`;
}

export function getHighlightPlaybackPath(highlightId: string): string {
  return `/highlights/${highlightId}/master.m3u8`;
}
