// The query strings the playback origin accepts, and the normalized key identical requests share.
// Only the LL-HLS delivery directives reach a media playlist ("_HLS_msn", "_HLS_part", "_HLS_skip",
// draft-pantos-hls-rfc8216bis 6.2.5); media files, thumbnails and the multivariant playlist take
// none. Anything else is a 400 before the edge cache or the LiveStream object is asked: a random
// parameter would otherwise miss the cache and the in-isolate collapsing, and park one more waiter
// in the channel's object that also takes the ingest commits (docs/security.md).
import { z } from 'zod';
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
 * The key identical requests share in the edge cache and the in-isolate collapsing: the path and
 * the directives in one canonical spelling (`_HLS_msn=07` and `_HLS_msn=7` are one request).
 */
export function getCollapseKey(url: URL, directives: PlaylistDirectives = {}): string {
  const canonical = new URL(url.pathname, url.origin);
  if (directives._HLS_msn !== undefined) canonical.searchParams.set('_HLS_msn', String(directives._HLS_msn));
  if (directives._HLS_part !== undefined)
    canonical.searchParams.set('_HLS_part', String(directives._HLS_part));
  if (directives._HLS_skip !== undefined) canonical.searchParams.set('_HLS_skip', directives._HLS_skip);
  return canonical.toString();
}
