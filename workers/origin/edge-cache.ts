// Collapsing identical playback requests: the Cache API in front (what the CDN would do for a
// response from a Worker, which otherwise never reaches it), and inside one isolate a map of the
// requests being answered right now, so N viewers blocked on the same part or playlist URL make
// one call to the LiveStream object. "Query strings are part of the cache key at the edge, so
// identical blocking requests collapse" (LL-HLS caching, media-facts).
import { metrics } from '../../durable-objects/metrics/recorder.ts';
import { serveBytes } from './serve-media.ts';

/**
 * The largest media object read whole into memory to answer a Range, HEAD or conditional request
 * (from the edge cache, or from R2 to keep it there). A 2 s segment at the ladder's top bitrate is
 * a few MB; a larger object is served from R2 by range instead.
 */
export const MAX_BUFFERED_MEDIA_BYTES = 32 * 1024 * 1024;

/** A plain whole-object GET: the cached response goes out as it is, streamed. */
export function isPlainGet(request: Request): boolean {
  return request.method === 'GET' && !request.headers.has('range') && !request.headers.has('if-none-match');
}

/**
 * The cached response for a request, by its canonical key (playback-query.ts: built from the
 * validated route, so no other spelling of the URL can make a request miss). Every request the
 * stored object can answer is answered from it: HEAD, `Range` (206/416) and `If-None-Match` (304)
 * are evaluated against the cached response (serve-media.ts), so a random ETag or range costs no R2
 * read. A plain GET streams the cached body, copied so its headers can still be set (CORS).
 */
export async function matchEdgeCache(key: string, request: Request): Promise<Response | null> {
  const hit = await caches.default.match(key);
  metrics.add(null, 'edgestream_edge_cache_lookups_total', { result: hit ? 'hit' : 'miss' });
  if (!hit) return null;
  if (isPlainGet(request)) return new Response(hit.body, hit);
  // Too large to read into memory for one range: the caller serves it from R2 by range instead.
  if (Number(hit.headers.get('content-length') ?? Number.POSITIVE_INFINITY) > MAX_BUFFERED_MEDIA_BYTES) {
    await hit.body?.cancel();
    return null;
  }
  return serveBytes(await hit.arrayBuffer(), hit.headers.get('etag'), request, {
    contentType: hit.headers.get('content-type') ?? 'application/octet-stream',
    cacheControl: hit.headers.get('cache-control') ?? 'no-store',
  });
}

/** Stores a 200 response under `key` in the edge cache after the response has gone out. */
export function putEdgeCache(
  ctx: { waitUntil(promise: Promise<unknown>): void },
  key: string,
  response: Response,
): void {
  if (response.status !== 200) return;
  ctx.waitUntil(caches.default.put(key, response.clone()));
}

export type ShareInFlight<T> = (
  key: string,
  produce: () => Promise<T>,
) => Promise<{ value: T; leader: boolean }>;

/**
 * A per-isolate collapser: the function it returns runs `produce` once for every identical request
 * (same `key`) that arrives while it runs, and all of them get its result. The result must be plain
 * data (a string, an ArrayBuffer), never a stream or a Response, which belong to the request that
 * made them. `leader` is true for the one request that ran it. A follower whose leader failed (its
 * client went away mid-wait, say) runs `produce` itself rather than failing with it.
 */
export function createInFlight<T>(): ShareInFlight<T> {
  const inFlight = new Map<string, Promise<T>>();
  return async (key, produce) => {
    const pending = inFlight.get(key);
    if (pending) {
      try {
        return { value: await pending, leader: false };
      } catch {
        return { value: await produce(), leader: false };
      }
    }
    const leading = produce();
    inFlight.set(key, leading);
    try {
      return { value: await leading, leader: true };
    } finally {
      inFlight.delete(key);
    }
  };
}
