// Cutting a clip: which archived segments cover the window, and the one fragmented MP4 made of
// them. Why fragmented and not a rebuilt progressive MP4: the fragments are copied as they are
// (only tfdt and mfhd change, in place), so a 60 s 1080p clip costs one pass over the bytes and no
// sample tables; browsers and ffprobe play fragmented MP4 from a plain <video src>, and mehd plus
// the rewritten mvhd/tkhd/mdhd give them the duration up front. Pure: no I/O.
import {
  concatBytes,
  type Fragment,
  getFragmentSeconds,
  type InitFacts,
  readFragments,
  readInit,
  rewriteFragment,
  rewriteInit,
} from './mp4-boxes.ts';

export interface IndexedSegment {
  msn: number;
  duration: number;
  pdt: number;
  discontinuity: boolean;
  init: number;
}

export type ClipPlan = { ok: true; init: number; segments: IndexedSegment[] } | { ok: false; reason: string };

/** How far before the first kept segment a window may start and still be clipped from it. */
const START_SLACK_MS = 2000;
/** The tolerance a clip's duration keeps to the request. */
export const DURATION_TOLERANCE_SECONDS = 0.5;

/**
 * The segments a clip of `durationSeconds` starting at wall clock `windowStart` is cut from: it
 * starts at the segment (a keyframe) at or before the window start and runs on, without crossing
 * a discontinuity (a new init cannot join the same MP4), until the duration is covered.
 */
export function planClip(
  segments: readonly IndexedSegment[],
  windowStart: number,
  durationSeconds: number,
): ClipPlan {
  const first = segments[0];
  if (!first) return { ok: false, reason: 'The stream has no archived media' };
  if (windowStart < first.pdt - START_SLACK_MS)
    return { ok: false, reason: 'The window starts before the oldest media still kept' };
  const startIndex = segments.findIndex((s) => s.pdt + s.duration * 1000 > windowStart);
  const start = segments[startIndex];
  if (!start) return { ok: false, reason: 'The window starts after the last archived media' };
  const chosen: IndexedSegment[] = [start];
  let covered = start.duration;
  for (let i = startIndex + 1; covered < durationSeconds && i < segments.length; i++) {
    const segment = segments[i];
    const previous = chosen.at(-1);
    if (!segment || !previous) break;
    if (segment.discontinuity || segment.init !== start.init || segment.msn !== previous.msn + 1) break;
    chosen.push(segment);
    covered += segment.duration;
  }
  if (covered < durationSeconds - DURATION_TOLERANCE_SECONDS)
    return { ok: false, reason: 'The window runs past the media available in one continuous run' };
  return { ok: true, init: start.init, segments: chosen };
}

export interface AssembledClip {
  bytes: Uint8Array;
  /** Seconds of video in the clip. */
  seconds: number;
}

/**
 * Joins the init segment and the fragments of `segments` into one MP4 of about `durationSeconds`:
 * whole fragments (parts) from the first, stopping at the part boundary nearest the duration.
 * Every track's decode times shift by the same amount of time so A/V sync survives and the
 * earliest sample sits at 0.
 */
export function assembleClip(
  init: Uint8Array,
  segments: readonly Uint8Array[],
  durationSeconds: number,
): AssembledClip {
  const facts = readInit(init);
  const picked: Array<{ bytes: Uint8Array; fragment: Fragment }> = [];
  let seconds = 0;
  outer: for (const bytes of segments) {
    for (const fragment of readFragments(bytes, facts)) {
      const length = getFragmentSeconds(fragment, facts);
      // Stop at the boundary nearest the requested duration.
      if (picked.length > 0 && seconds + length / 2 > durationSeconds) break outer;
      picked.push({ bytes, fragment });
      seconds += length;
    }
  }
  if (picked.length === 0) throw new Error('no fragments to clip');
  const shift = computeShift(facts, picked[0]?.fragment);
  const trackDurations = new Map<number, number>();
  for (const track of facts.tracks) trackDurations.set(track.trackId, 0);
  const firstTimes = new Map<number, number>();
  for (const { fragment } of picked) {
    for (const traf of fragment.trafs) {
      if (!firstTimes.has(traf.trackId))
        firstTimes.set(traf.trackId, traf.baseDecodeTime - (shift.get(traf.trackId) ?? 0));
      trackDurations.set(traf.trackId, (trackDurations.get(traf.trackId) ?? 0) + traf.duration);
    }
  }
  // A track's duration runs from 0 to its last sample: its start offset plus its samples.
  let movieSeconds = 0;
  for (const track of facts.tracks) {
    const total = (firstTimes.get(track.trackId) ?? 0) + (trackDurations.get(track.trackId) ?? 0);
    trackDurations.set(track.trackId, total);
    if (track.timescale > 0) movieSeconds = Math.max(movieSeconds, total / track.timescale);
  }
  const head = rewriteInit(init, {
    movie: Math.round(movieSeconds * facts.movieTimescale),
    tracks: trackDurations,
  });
  const body = picked.map(({ bytes, fragment }, i) => rewriteFragment(bytes, fragment, i + 1, shift));
  return { bytes: concatBytes([head, ...body]), seconds };
}

/** Per track, the decode time to subtract: the earliest first sample of any track, in its timescale. */
function computeShift(facts: InitFacts, first: Fragment | undefined): Map<number, number> {
  let earliest = Number.POSITIVE_INFINITY;
  for (const traf of first?.trafs ?? []) {
    const track = facts.tracks.find((t) => t.trackId === traf.trackId);
    if (track && track.timescale > 0) earliest = Math.min(earliest, traf.baseDecodeTime / track.timescale);
  }
  if (!Number.isFinite(earliest)) earliest = 0;
  const shift = new Map<number, number>();
  for (const track of facts.tracks) shift.set(track.trackId, Math.round(earliest * track.timescale));
  return shift;
}
