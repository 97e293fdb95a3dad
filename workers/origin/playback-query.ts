// The query strings the playback origin accepts, and the normalized key identical requests share.
// Only the LL-HLS delivery directives reach a media playlist ("_HLS_msn", "_HLS_part", "_HLS_skip",
// draft-pantos-hls-rfc8216bis 6.2.5); media files, thumbnails and the multivariant playlist take
// none. Anything else is a 400 before the edge cache or the LiveStream object is asked: a random
// parameter would otherwise miss the cache and the in-isolate collapsing, and park one more waiter
// in the channel's object that also takes the ingest commits (docs/security.md).
import { z } from 'zod';
import { getMediaFileName, type MediaFile } from '../../media/live-keys.ts';
import type { RenditionName } from '../../protocol/ingest.ts';
import { badRequest } from '../shared/errors.ts';

const Index = z
  .string()
  .regex(/^\d{1,15}$/)
  .transform(Number)
  .pipe(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER));

export const PlaylistDirectives = z.strictObject({
  _HLS_msn: Index.optional(),
  _HLS_part: Index.optional(),
  // "_HLS_skip=YES" asks for a delta update; "v2" also skips date ranges, of which there are none.
  _HLS_skip: z.enum(['YES', 'v2']).optional(),
});
export type PlaylistDirectives = z.infer<typeof PlaylistDirectives>;

/** A URL's query as one value per name; a repeated name or a parameter that is not named is a 400. */
function readParams(url: URL, allowed: ReadonlySet<string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (!allowed.has(name)) throw badRequest(`Unknown query parameter "${name.slice(0, 40)}"`);
    if (name in params) throw badRequest(`Repeated query parameter "${name}"`);
    params[name] = value;
  }
  return params;
}

const DIRECTIVES = new Set(['_HLS_msn', '_HLS_part', '_HLS_skip']);
const NONE = new Set<string>();

/** The validated directives of a media playlist request. */
export function readPlaylistDirectives(url: URL): PlaylistDirectives {
  const parsed = PlaylistDirectives.safeParse(readParams(url, DIRECTIVES));
  if (!parsed.success) throw badRequest('Invalid LL-HLS directives', parsed.error.issues);
  return parsed.data;
}

/** Refuses any query string on a URL that takes none (media files, thumbnails, master playlist). */
export function refuseQuery(url: URL): void {
  readParams(url, NONE);
}

/**
 * The key identical media playlist requests share in the edge cache and the in-isolate collapsing,
 * built from the validated route parameters and directives only, never from the raw URL: a
 * percent-encoded path (`%37%32%30p.m3u8` routes as `720p.m3u8`) or `_HLS_msn=07` for `7` is the
 * same request under the same key.
 */
export function getPlaylistKey(
  origin: string,
  channelId: string,
  rendition: RenditionName,
  directives: PlaylistDirectives,
): string {
  const canonical = new URL(`/live/${channelId}/${rendition}.m3u8`, origin);
  if (directives._HLS_msn !== undefined) canonical.searchParams.set('_HLS_msn', String(directives._HLS_msn));
  if (directives._HLS_part !== undefined)
    canonical.searchParams.set('_HLS_part', String(directives._HLS_part));
  if (directives._HLS_skip !== undefined) canonical.searchParams.set('_HLS_skip', directives._HLS_skip);
  return canonical.toString();
}

/**
 * The edge-cache key of a live media file: its stream, rendition and canonical file name, the very
 * things its R2 key is made of. Not the channel: the bytes do not depend on which channel's URL
 * named them, so another channel id in the URL must not be another copy (and another R2 read).
 */
export function getMediaCacheKey(
  origin: string,
  streamId: string,
  rendition: RenditionName,
  file: MediaFile,
): string {
  return new URL(`/live/media/${streamId}/${rendition}/${getMediaFileName(file)}`, origin).toString();
}

/** The key viewers waiting for the same part of a channel's stream share, whatever publish they name. */
export function getPartWaitKey(
  channelId: string,
  streamId: string,
  rendition: RenditionName,
  file: { msn: number; part: number },
): string {
  return `${channelId} ${streamId} ${rendition} ${file.msn}.${file.part}`;
}
