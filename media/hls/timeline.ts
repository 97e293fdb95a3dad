// The state model of one rendition of a live stream: which segments and parts exist, in playlist
// order. Pure data and pure transitions, so the LiveStream DO keeps it in memory, persists the
// rows it changes, and playlist rendering and blocking decisions read it without I/O.
import type { InitMeta, PartMeta, SegmentMeta } from '../../protocol/ingest.ts';
import { type RenditionInfo, type SegmentRecord, TARGET_DURATION } from '../../protocol/media.ts';

/** How many finished segments keep their part list in memory (more than the ~3 TD listed). */
const SEGMENTS_WITH_PARTS = 6;

export interface PartEntry {
  part: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  /** Epoch ms of the first sample. */
  pdt: number;
  /**
   * Which publish of the stream uploaded it (0 for the first, +1 per reconnect): part keys carry
   * it, so a cut-off publisher that still uploads can never overwrite its successor's bytes.
   */
  publish: number;
}

/** A listed segment (the one shape of protocol/media.ts) and, while recent, its parts. */
export interface SegmentEntry extends SegmentRecord {
  /** Its parts, kept only for recent segments; [] once they leave the playlist. */
  parts: PartEntry[];
}

/** A segment whose parts are arriving; listed after the last segment once it is the next one. */
export interface OpenSegment {
  msn: number;
  init: number;
  discontinuity: boolean;
  parts: PartEntry[];
}

export interface Timeline {
  info: RenditionInfo;
  /** Seconds; fixed by the rendition's first init of the stream. */
  partTarget: number;
  /** The newest init segment number; 0 before any. */
  initCount: number;
  /** Discontinuities carried by segments that have left the playlist (DVR window). */
  removedDiscontinuities: number;
  /** Listed segments, oldest first, inside the DVR window. */
  segments: SegmentEntry[];
  /** The msn the next listed segment carries; null before any media. */
  nextMsn: number | null;
  /** Segments with parts but not finished, by msn. */
  open: Map<number, OpenSegment>;
  /** Finished segments that wait for an earlier msn to finish (uploads can overtake each other). */
  finished: Map<number, { duration: number; pdt: number }>;
  /** The next segment starts after a new init or a reconnect. */
  discontinuityPending: boolean;
}

export function toRenditionInfo(meta: InitMeta): RenditionInfo {
  return {
    name: meta.rendition,
    codecs: meta.codecs,
    bandwidth: meta.bandwidth,
    averageBandwidth: meta.average_bandwidth,
    width: meta.width ?? null,
    height: meta.height ?? null,
    frameRate: meta.frame_rate ?? null,
  };
}

export function createTimeline(info: RenditionInfo, partTarget: number): Timeline {
  return {
    info,
    partTarget,
    initCount: 0,
    removedDiscontinuities: 0,
    segments: [],
    nextMsn: null,
    open: new Map(),
    finished: new Map(),
    discontinuityPending: false,
  };
}

/**
 * A new init segment (ffmpeg restarted, or a reconnect): the segments after it need a new
 * EXT-X-MAP and an EXT-X-DISCONTINUITY. PART-TARGET stays: "the PART-TARGET MUST NOT change"
 * for the life of the playlist, so only the codec and bandwidth facts are refreshed.
 */
export function applyInit(timeline: Timeline, info: RenditionInfo, init: number): void {
  if (timeline.initCount > 0) timeline.discontinuityPending = true;
  timeline.initCount = init;
  timeline.info = info;
}

function openSegment(timeline: Timeline, msn: number): OpenSegment {
  let segment = timeline.open.get(msn);
  if (!segment) {
    segment = { msn, init: timeline.initCount, discontinuity: timeline.discontinuityPending, parts: [] };
    timeline.discontinuityPending = false;
    timeline.open.set(msn, segment);
  }
  return segment;
}

/** Records a part; false when it changes nothing (a late or repeated upload). */
export function applyPart(
  timeline: Timeline,
  meta: Pick<PartMeta, 'msn' | 'part' | 'duration' | 'independent' | 'pdt'> & { publish: number },
): boolean {
  if (timeline.nextMsn === null) timeline.nextMsn = meta.msn;
  if (meta.msn < timeline.nextMsn) return false;
  const segment = openSegment(timeline, meta.msn);
  if (segment.parts.some((p) => p.part === meta.part)) return false;
  segment.parts.push({
    part: meta.part,
    duration: meta.duration,
    independent: meta.independent,
    pdt: meta.pdt,
    publish: meta.publish,
  });
  segment.parts.sort((a, b) => a.part - b.part);
  return true;
}

/** The parts (sorted by index) that a playlist may list: the unbroken run from part 0. */
export function takeUnbrokenRun(parts: PartEntry[]): PartEntry[] {
  let count = 0;
  while (count < parts.length && parts[count]?.part === count) count++;
  return count === parts.length ? parts : parts.slice(0, count);
}

/** The parts of the open segment that a playlist may list. */
export function getListedOpenParts(timeline: Timeline): PartEntry[] {
  if (timeline.nextMsn === null) return [];
  return takeUnbrokenRun(timeline.open.get(timeline.nextMsn)?.parts ?? []);
}

/**
 * Records a finished segment and lists every segment that is now contiguous. Returns the newly
 * listed entries (oldest first) so the caller can persist them.
 */
export function applySegment(
  timeline: Timeline,
  meta: Pick<SegmentMeta, 'msn' | 'duration' | 'pdt'>,
): SegmentEntry[] {
  if (timeline.nextMsn === null) timeline.nextMsn = meta.msn;
  if (meta.msn < timeline.nextMsn) return [];
  timeline.finished.set(meta.msn, { duration: meta.duration, pdt: meta.pdt });
  const listed: SegmentEntry[] = [];
  for (
    let done = timeline.finished.get(timeline.nextMsn);
    done;
    done = timeline.finished.get(timeline.nextMsn)
  ) {
    const msn: number = timeline.nextMsn;
    const open = openSegment(timeline, msn);
    const entry: SegmentEntry = {
      msn,
      duration: done.duration,
      pdt: done.pdt,
      discontinuity: open.discontinuity,
      init: open.init,
      gap: false,
      // The transcoder sheds parts when the origin falls behind: parts after a hole cannot be
      // listed (a part's index is its position), so the segment keeps only the unbroken run.
      parts: takeUnbrokenRun(open.parts),
    };
    timeline.segments.push(entry);
    timeline.open.delete(msn);
    timeline.finished.delete(msn);
    timeline.nextMsn = msn + 1;
    listed.push(entry);
  }
  const stale = timeline.segments.length - SEGMENTS_WITH_PARTS;
  for (let i = Math.max(0, stale - listed.length); i < stale; i++) {
    const segment = timeline.segments[i];
    if (segment) segment.parts = [];
  }
  return listed;
}

/**
 * The open segments a departed publisher left behind, in msn order from nextMsn: each becomes a
 * whole segment made of its parts (the caller writes the concatenated bytes to R2 first, then
 * applies it with applySegment). Parts after a hole can never be listed and are dropped.
 */
export function planSeal(timeline: Timeline): Array<{ msn: number; parts: PartEntry[] }> {
  const plan: Array<{ msn: number; parts: PartEntry[] }> = [];
  if (timeline.nextMsn === null) return plan;
  for (let msn = timeline.nextMsn; ; msn++) {
    const parts = takeUnbrokenRun(timeline.open.get(msn)?.parts ?? []);
    if (parts.length === 0) break;
    plan.push({ msn, parts });
  }
  return plan;
}

/** Forgets open segments that can no longer be listed (after sealing). */
export function dropOpenSegments(timeline: Timeline): void {
  timeline.open.clear();
  timeline.finished.clear();
}

/**
 * Brings a rendition that fell behind up to `msn` with EXT-X-GAP segments, so every rendition of
 * a continued stream carries the same media sequence numbers. "EXT-X-GAP ... indicates that the
 * segment URI to which it applies does not contain media data and SHOULD NOT be loaded by clients."
 * A GAP stands in for a whole segment of the rendition's clock: it lasts TARGET_DURATION (the GOP
 * every rendition closes segments on) and starts where the previous segment ended, so the dates a
 * player derives by adding durations stay right. The gap itself is not a discontinuity; the first
 * real segment after it is (the new publisher's timestamps start afresh), and carries its own date.
 */
export function fillGapTo(timeline: Timeline, msn: number, pdt: number): SegmentEntry[] {
  if (timeline.nextMsn === null) {
    timeline.nextMsn = msn;
    return [];
  }
  const added: SegmentEntry[] = [];
  const last = timeline.segments.at(-1);
  let start = last ? last.pdt + last.duration * 1000 : pdt;
  while (timeline.nextMsn < msn) {
    const entry: SegmentEntry = {
      msn: timeline.nextMsn,
      duration: TARGET_DURATION,
      pdt: Math.round(start),
      discontinuity: false,
      init: timeline.initCount,
      gap: true,
      parts: [],
    };
    timeline.segments.push(entry);
    added.push(entry);
    start += TARGET_DURATION * 1000;
    timeline.nextMsn++;
  }
  if (added.length > 0) timeline.discontinuityPending = true;
  return added;
}

/**
 * Drops segments older than the DVR window from the playlist (they stay in R2 and in the segment
 * index). "A live playlist never shrinks below 3 × TD": at least that much always stays listed.
 */
export function trimToDvrWindow(timeline: Timeline, windowSeconds: number): void {
  const keepSeconds = Math.max(windowSeconds, 3 * TARGET_DURATION);
  let total = 0;
  for (const segment of timeline.segments) total += segment.duration;
  let drop = 0;
  while (drop < timeline.segments.length - 1) {
    const first = timeline.segments[drop];
    if (!first || total - first.duration < keepSeconds) break;
    total -= first.duration;
    if (first.discontinuity) timeline.removedDiscontinuities++;
    drop++;
  }
  if (drop > 0) timeline.segments.splice(0, drop);
}

/** The msn of the last finished segment; null when none is listed yet. */
export function getLastSegmentMsn(timeline: Timeline): number | null {
  return timeline.segments.at(-1)?.msn ?? null;
}

/** True once the rendition has anything a playlist can list. */
export function hasMedia(timeline: Timeline): boolean {
  return timeline.initCount > 0 && timeline.nextMsn !== null;
}

/** The last listed part, as EXT-X-RENDITION-REPORT names it (LAST-MSN, LAST-PART). */
export function getLastPart(timeline: Timeline): { msn: number; part: number } | null {
  const open = getListedOpenParts(timeline);
  if (open.length > 0 && timeline.nextMsn !== null) return { msn: timeline.nextMsn, part: open.length - 1 };
  const last = timeline.segments.at(-1);
  if (!last) return null;
  return { msn: last.msn, part: Math.max(0, last.parts.length - 1) };
}
