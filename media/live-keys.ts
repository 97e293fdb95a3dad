// Where live media lives in R2 and how playlists name it. Segments and init segments sit under the
// stream's own prefix so a VOD can reuse them as they are; parts sit under `parts/` so one R2
// lifecycle rule (LIVE_PART_RETENTION_HOURS) can expire them without touching the VOD.
import type { RenditionName } from '../protocol/ingest.ts';

export function getInitKey(streamId: string, rendition: RenditionName, init: number): string {
  return `streams/${streamId}/${rendition}/init-${init}.mp4`;
}

export function getSegmentKey(streamId: string, rendition: RenditionName, msn: number): string {
  return `streams/${streamId}/${rendition}/${msn}.m4s`;
}

/**
 * A part's file name. The first publish of a stream names parts `{msn}.{part}.m4s`; a publish that
 * continues it after a reconnect adds its number (`{msn}.{part}-{publish}.m4s`), so the origin can
 * write a part to R2 before the LiveStream object has confirmed the publisher (one call per part)
 * without a stale publisher ever overwriting the bytes of the one that replaced it.
 */
function getPartFileName(msn: number, part: number, publish: number): string {
  return publish === 0 ? `${msn}.${part}.m4s` : `${msn}.${part}-${publish}.m4s`;
}

export function getPartKey(
  streamId: string,
  rendition: RenditionName,
  msn: number,
  part: number,
  publish: number,
): string {
  return `parts/${streamId}/${rendition}/${getPartFileName(msn, part, publish)}`;
}

export function getThumbnailKey(streamId: string): string {
  return `streams/${streamId}/thumbnail.jpg`;
}

/** The public path of a stream's thumbnail (served by the origin from getThumbnailKey). */
export function getThumbnailPath(channelId: string, streamId: string): string {
  return `/live/${channelId}/${streamId}/thumbnail.jpg`;
}

// Media playlists live at /live/{channel}/{rendition}.m3u8, so their URIs are relative to the
// channel: `{stream}/{rendition}/{file}`. The file names mirror the R2 keys' last component.

export function getInitUri(streamId: string, rendition: RenditionName, init: number): string {
  return `${streamId}/${rendition}/init-${init}.mp4`;
}

export function getSegmentUri(streamId: string, rendition: RenditionName, msn: number): string {
  return `${streamId}/${rendition}/${msn}.m4s`;
}

export function getPartUri(
  streamId: string,
  rendition: RenditionName,
  msn: number,
  part: number,
  publish: number,
): string {
  return `${streamId}/${rendition}/${getPartFileName(msn, part, publish)}`;
}

export type MediaFile =
  | { kind: 'init'; init: number }
  | { kind: 'segment'; msn: number }
  | { kind: 'part'; msn: number; part: number; publish: number };

const INIT_FILE = /^init-(\d{1,9})\.mp4$/;
const SEGMENT_FILE = /^(\d{1,12})\.m4s$/;
const PART_FILE = /^(\d{1,12})\.(\d{1,6})(?:-(\d{1,6}))?\.m4s$/;

/** The one file name a parsed media file has: what the playlists list and the R2 key ends with. */
export function getMediaFileName(file: MediaFile): string {
  switch (file.kind) {
    case 'init':
      return `init-${file.init}.mp4`;
    case 'segment':
      return `${file.msn}.m4s`;
    case 'part':
      return getPartFileName(file.msn, file.part, file.publish);
  }
}

function parseAnySpelling(name: string): MediaFile | null {
  const init = INIT_FILE.exec(name);
  if (init) return { kind: 'init', init: Number(init[1]) };
  const segment = SEGMENT_FILE.exec(name);
  if (segment) return { kind: 'segment', msn: Number(segment[1]) };
  const part = PART_FILE.exec(name);
  if (part)
    return { kind: 'part', msn: Number(part[1]), part: Number(part[2]), publish: Number(part[3] ?? 0) };
  return null;
}

/**
 * Reads a media file name of a playback URL; null when it names nothing the origin serves. Only the
 * canonical spelling is a name (`7.0.m4s`, not `007.0.m4s` or `7.0-0.m4s`): every other spelling of
 * the same file would be one more edge-cache key and one more held request (docs/security.md).
 */
export function parseMediaFileName(name: string): MediaFile | null {
  const file = parseAnySpelling(name);
  return file && getMediaFileName(file) === name ? file : null;
}

/** The R2 key of a parsed media file. */
export function getMediaKey(streamId: string, rendition: RenditionName, file: MediaFile): string {
  switch (file.kind) {
    case 'init':
      return getInitKey(streamId, rendition, file.init);
    case 'segment':
      return getSegmentKey(streamId, rendition, file.msn);
    case 'part':
      return getPartKey(streamId, rendition, file.msn, file.part, file.publish);
  }
}
