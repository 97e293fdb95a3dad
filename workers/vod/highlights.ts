// Highlights: a saved range of a VOD, kept when the VOD expires or is deleted. A highlight has no
// copy of the media either: its playlists (highlights/{id}/) list the whole segments of its range
// from the VOD's segment index, and the retention sweep leaves those segments (and the stream's
// inits and thumbnail) in place while it deletes the rest of the stream (retention.ts).
import { z } from 'zod';
import { renderMultivariantPlaylist } from '../../media/hls/multivariant-playlist.ts';
import { renderVodMediaPlaylist, sumDurations, type VodRendition } from '../../media/hls/vod-playlist.ts';
import { getHighlightMasterKey, getHighlightPlaylistKey } from '../../media/vod-keys.ts';

/** The longest highlight: a half-hour (Twitch's highlights run to hours, ours are kept forever). */
export const MAX_HIGHLIGHT_SECONDS = 1800;
export const MIN_HIGHLIGHT_SECONDS = 1;
/** Highlights one VOD may have: each pins its segments for good. */
export const MAX_HIGHLIGHTS_PER_VOD = 20;
/** A range may end this far past the VOD's measured duration (rounding of the segment durations). */
const END_SLACK_SECONDS = 0.5;

export type HighlightPlan =
  | {
      ok: true;
      firstMsn: number;
      lastMsn: number;
      startSeconds: number;
      durationSeconds: number;
      renditions: VodRendition[];
    }
  | { ok: false; reason: string };

/**
 * The whole segments of the reference rendition (the first) that overlap [start, end) on the VOD's
 * clock, and the same sequence numbers of every rendition. The range is widened to segment
 * boundaries: a player can only start a segment at its beginning.
 */
export function planHighlight(
  renditions: readonly VodRendition[],
  vodDurationSeconds: number,
  start: number,
  end: number,
): HighlightPlan {
  if (!(end > start)) return { ok: false, reason: 'end_seconds must be after start_seconds' };
  if (start < 0) return { ok: false, reason: 'start_seconds must be at least 0' };
  if (end > vodDurationSeconds + END_SLACK_SECONDS)
    return {
      ok: false,
      reason: `The range runs past the end of the VOD (${vodDurationSeconds.toFixed(3)} s)`,
    };
  if (end - start < MIN_HIGHLIGHT_SECONDS)
    return { ok: false, reason: `A highlight is at least ${MIN_HIGHLIGHT_SECONDS} s long` };
  if (end - start > MAX_HIGHLIGHT_SECONDS)
    return { ok: false, reason: `A highlight is at most ${MAX_HIGHLIGHT_SECONDS} s long` };
  const reference = renditions[0];
  if (!reference) return { ok: false, reason: 'The VOD has no media' };
  let position = 0;
  let firstMsn: number | null = null;
  let lastMsn: number | null = null;
  let startSeconds = 0;
  for (const segment of reference.segments) {
    const segmentEnd = position + segment.duration;
    if (segmentEnd > start && position < end) {
      if (firstMsn === null) {
        firstMsn = segment.msn;
        startSeconds = position;
      }
      lastMsn = segment.msn;
    }
    position = segmentEnd;
  }
  if (firstMsn === null || lastMsn === null) return { ok: false, reason: 'The range is outside the VOD' };
  const first = firstMsn;
  const last = lastMsn;
  const picked = renditions
    .map((r) => ({ info: r.info, segments: r.segments.filter((s) => s.msn >= first && s.msn <= last) }))
    .filter((r) => r.segments.length > 0);
  const durationSeconds = sumDurations(picked[0]?.segments ?? []);
  if (durationSeconds > MAX_HIGHLIGHT_SECONDS + 2 * (reference.segments[0]?.duration ?? 0))
    return { ok: false, reason: `A highlight is at most ${MAX_HIGHLIGHT_SECONDS} s long` };
  return { ok: true, firstMsn: first, lastMsn: last, startSeconds, durationSeconds, renditions: picked };
}

/** Writes the highlight's playlists; the multivariant one last, so everything it names exists. */
export async function writeHighlightPlaylists(
  bucket: R2Bucket,
  highlightId: string,
  renditions: readonly VodRendition[],
): Promise<void> {
  const options = { httpMetadata: { contentType: 'application/vnd.apple.mpegurl' } };
  await Promise.all(
    renditions.map((r) =>
      bucket.put(
        getHighlightPlaylistKey(highlightId, r.info.name),
        renderVodMediaPlaylist(r.info.name, r.segments),
        options,
      ),
    ),
  );
  await bucket.put(
    getHighlightMasterKey(highlightId),
    renderMultivariantPlaylist(renditions.map((r) => r.info)),
    options,
  );
}

const PinnedRange = z.object({ first_msn: z.number().int(), last_msn: z.number().int() });
export type PinnedRange = z.infer<typeof PinnedRange>;

/** The segment ranges highlights keep of a stream (idx_highlights_stream). */
export async function readPinnedRanges(db: D1Database, streamId: string): Promise<PinnedRange[]> {
  const { results } = await db
    .prepare('SELECT first_msn, last_msn FROM highlights WHERE stream_id = ?')
    .bind(streamId)
    .all();
  return results.map((row) => PinnedRange.parse(row));
}

/**
 * Whether a key under streams/{stream_id}/ is one a highlight plays: a segment in a pinned range,
 * any init (a few hundred bytes each, and a range may cross a reconnect's new init) or the thumbnail.
 */
export function isPinnedKey(key: string, streamPrefix: string, ranges: readonly PinnedRange[]): boolean {
  if (ranges.length === 0 || !key.startsWith(streamPrefix)) return false;
  const rest = key.slice(streamPrefix.length);
  if (rest === 'thumbnail.jpg') return true;
  const name = rest.split('/')[1] ?? '';
  if (/^init-\d+\.mp4$/.test(name)) return true;
  const segment = /^(\d+)\.m4s$/.exec(name);
  if (!segment) return false;
  const msn = Number(segment[1]);
  return ranges.some((r) => msn >= r.first_msn && msn <= r.last_msn);
}

const HighlightRange = PinnedRange.extend({ stream_id: z.string() });
type HighlightRange = z.infer<typeof HighlightRange>;
/**
 * A highlight's range never changes, but a deleted one must stop playing: looked up once per
 * isolate for this long (as VODs are, vod-lookup.ts), up to RANGE_CACHE_SIZE highlights.
 */
const RANGE_TTL_MS = 30_000;
const RANGE_CACHE_SIZE = 1000;
const rangeCache = new Map<string, { range: HighlightRange; at: number }>();

/** The stream and segment range a highlight plays; null when there is no such highlight. */
export async function findHighlightRange(
  db: D1Database,
  highlightId: string,
): Promise<HighlightRange | null> {
  const now = Date.now();
  const cached = rangeCache.get(highlightId);
  if (cached && now - cached.at < RANGE_TTL_MS) return cached.range;
  const found = await db
    .prepare('SELECT stream_id, first_msn, last_msn FROM highlights WHERE id = ?')
    .bind(highlightId)
    .first();
  if (!found) {
    rangeCache.delete(highlightId);
    return null;
  }
  const range = HighlightRange.parse(found);
  if (rangeCache.size >= RANGE_CACHE_SIZE) rangeCache.clear();
  rangeCache.set(highlightId, { range, at: now });
  return range;
}
