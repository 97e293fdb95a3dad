// Cutting a clip: which archived segments cover the window, and the one fragmented MP4 made of
// them. Why fragmented and not a rebuilt progressive MP4: the fragments are copied as they are
// (only tfdt and mfhd change, in place), so a clip costs no sample tables; browsers and ffprobe
// play fragmented MP4 from a plain <video src>, and mehd plus the rewritten mvhd/tkhd/mdhd give
// them the duration up front. The clip job streams it (clip-job.ts): a first pass over the
// segments picks the fragments (pickFragments), which fixes the header and the exact length
// (describeClip); a second pass copies the fragments out one by one. Pure: no I/O.
import { type Fragment, getFragmentSeconds, readFragments } from '../../media/mp4/fragments.ts';
import type { InitFacts } from '../../media/mp4/init.ts';
import { rewriteInit } from '../../media/mp4/rewrite.ts';
import type { SegmentRecord } from '../../protocol/media.ts';

export type ClipPlan = { ok: true; init: number; segments: SegmentRecord[] } | { ok: false; reason: string };

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
  indexed: readonly SegmentRecord[],
  windowStart: number,
  durationSeconds: number,
): ClipPlan {
  // A GAP row has no bytes; leaving it out leaves a hole in the msns, which ends a run below.
  const segments = indexed.filter((s) => !s.gap);
  const first = segments[0];
  if (!first) return { ok: false, reason: 'The stream has no archived media' };
  if (windowStart < first.pdt - START_SLACK_MS)
    return { ok: false, reason: 'The window starts before the oldest media still kept' };
  const startIndex = segments.findIndex((s) => s.pdt + s.duration * 1000 > windowStart);
  const start = segments[startIndex];
  if (!start) return { ok: false, reason: 'The window starts after the last archived media' };
  const chosen: SegmentRecord[] = [start];
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

/** The fragments a clip takes, chosen segment by segment (pickFragments). */
export interface ClipCut {
  /** Per segment read so far, the fragments taken from it (offsets into that segment's bytes). */
  picked: Fragment[][];
  /** Seconds of video taken. */
  seconds: number;
  /** The duration is covered: later segments are not needed. */
  full: boolean;
}

export function createClipCut(): ClipCut {
  return { picked: [], seconds: 0, full: false };
}

/**
 * Takes whole fragments (parts) of the next segment, in order, stopping at the part boundary
 * nearest `durationSeconds`. Only fragment facts are kept: the caller may drop `bytes` after this.
 */
export function pickFragments(
  cut: ClipCut,
  bytes: Uint8Array,
  facts: InitFacts,
  durationSeconds: number,
): void {
  const taken: Fragment[] = [];
  cut.picked.push(taken);
  if (cut.full) return;
  for (const fragment of readFragments(bytes, facts)) {
    const length = getFragmentSeconds(fragment, facts);
    // Stop at the boundary nearest the requested duration (after at least one fragment).
    if ((cut.seconds > 0 || taken.length > 0) && cut.seconds + length / 2 > durationSeconds) {
      cut.full = true;
      return;
    }
    taken.push(fragment);
    cut.seconds += length;
  }
}

export interface ClipLayout {
  /** The rewritten init segment, first in the file. */
  head: Uint8Array;
  /** Per track id, the decode time to subtract from every tfdt. */
  shift: Map<number, number>;
  /** Bytes of the whole file: the fragments keep their sizes, so this is known before any is copied. */
  length: number;
}

/**
 * The clip's header and length from the fragments picked. Every track's decode times shift by the
 * same amount of time so A/V sync survives and the earliest sample sits at 0.
 */
export function describeClip(init: Uint8Array, facts: InitFacts, cut: ClipCut): ClipLayout {
  const fragments = cut.picked.flat();
  const first = fragments[0];
  if (!first) throw new Error('no fragments to clip');
  const shift = computeShift(facts, first);
  const trackDurations = new Map<number, number>();
  for (const track of facts.tracks) trackDurations.set(track.trackId, 0);
  const firstTimes = new Map<number, number>();
  let bodyBytes = 0;
  for (const fragment of fragments) {
    bodyBytes += fragment.end - fragment.start;
    for (const traf of fragment.trafs) {
      if (!firstTimes.has(traf.trackId))
        firstTimes.set(traf.trackId, traf.baseMediaDecodeTime - (shift.get(traf.trackId) ?? 0));
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
  return { head, shift, length: head.byteLength + bodyBytes };
}

/** Per track, the decode time to subtract: the earliest first sample of any track, in its timescale. */
function computeShift(facts: InitFacts, first: Fragment): Map<number, number> {
  let earliest = Number.POSITIVE_INFINITY;
  for (const traf of first.trafs) {
    const track = facts.tracks.find((t) => t.trackId === traf.trackId);
    if (track && track.timescale > 0)
      earliest = Math.min(earliest, traf.baseMediaDecodeTime / track.timescale);
  }
  if (!Number.isFinite(earliest)) earliest = 0;
  const shift = new Map<number, number>();
  for (const track of facts.tracks) shift.set(track.trackId, Math.round(earliest * track.timescale));
  return shift;
}
