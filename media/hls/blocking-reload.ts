// The blocking playlist reload rules of LL-HLS (draft-pantos-hls-rfc8216bis, 6.2.5.2), as a pure
// decision: answer now, wait for a (msn, part), or refuse. The LiveStream DO does the waiting.
import { TARGET_DURATION } from '../../protocol/media.ts';
import { getLastSegmentMsn, getListedOpenParts, type Timeline } from './timeline.ts';

export interface ReloadDirectives {
  msn?: number | undefined;
  part?: number | undefined;
}

export type ReloadDecision =
  | { kind: 'answer' }
  | { kind: 'wait'; msn: number; part: number | undefined }
  | { kind: 'bad-request'; message: string };

/** "If the server cannot ... within three times the Target Duration, it SHOULD return 503." */
export const BLOCKING_TIMEOUT_MS = 3 * TARGET_DURATION * 1000;

/**
 * "the Advance Part Limit ... is three divided by the Part Target if the Part Target is less than
 * one second, or three otherwise."
 */
export function getAdvancePartLimit(partTarget: number): number {
  return partTarget < 1 ? Math.ceil(3 / partTarget) : 3;
}

function getPartsPerSegment(timeline: Timeline): number {
  return Math.max(1, Math.round(TARGET_DURATION / timeline.partTarget));
}

/**
 * Whether the playlist already lists what a directive names. "_HLS_part=N ... one past the last
 * part of a finished segment" means part 0 of the next segment, which is what hls.js asks for.
 */
export function isPositionListed(timeline: Timeline, msn: number, part: number | undefined): boolean {
  const last = getLastSegmentMsn(timeline);
  if (part === undefined) return last !== null && msn <= last;
  if (last !== null && msn <= last) {
    const segment = timeline.segments.find((s) => s.msn === msn);
    // A segment whose part list has been forgotten is old enough to satisfy any part of it.
    if (!segment || segment.parts.length === 0 || part < segment.parts.length) return true;
    return isPositionListed(timeline, msn + 1, 0);
  }
  return msn === timeline.nextMsn && part < getListedOpenParts(timeline).length;
}

/** Decides what a playlist request with `_HLS_msn` / `_HLS_part` gets. */
export function decideBlockingReload(
  timeline: Timeline,
  directives: ReloadDirectives,
  ended: boolean,
): ReloadDecision {
  const { msn, part } = directives;
  // "the server MUST return ... 400 ... if _HLS_part is present without _HLS_msn."
  if (part !== undefined && msn === undefined)
    return { kind: 'bad-request', message: '_HLS_part needs _HLS_msn' };
  // "If the Playlist contains an EXT-X-ENDLIST tag, the server MUST ignore the directives."
  if (msn === undefined || ended) return { kind: 'answer' };
  if (isPositionListed(timeline, msn, part)) return { kind: 'answer' };
  const lastMsn = getLastSegmentMsn(timeline) ?? (timeline.nextMsn ?? 0) - 1;
  // "If the _HLS_msn is greater than the Media Sequence Number of the last Media Segment in the
  // current Playlist plus two ... the server SHOULD immediately return Bad Request."
  if (msn > lastMsn + 2)
    return { kind: 'bad-request', message: `_HLS_msn ${msn} is more than 2 past ${lastMsn}` };
  if (part !== undefined && timeline.nextMsn !== null) {
    // "... or if _HLS_part exceeds the last Partial Segment in the current Playlist by the Advance
    // Part Limit." Future segments are counted at their nominal number of parts.
    const perSegment = getPartsPerSegment(timeline);
    const lastListed = timeline.nextMsn * perSegment + getListedOpenParts(timeline).length - 1;
    const requested = msn * perSegment + part;
    if (requested - lastListed > getAdvancePartLimit(timeline.partTarget)) {
      return { kind: 'bad-request', message: `part ${msn}.${part} is beyond the advance part limit` };
    }
  }
  return { kind: 'wait', msn, part };
}

/**
 * Whether a request for a part file that does not exist yet may wait for it: the hinted part and
 * anything up to the advance part limit ("A request for the hinted URI must wait until the part
 * exists, not 404"). Farther requests and old ones get 404 at once.
 */
export function canAwaitPart(timeline: Timeline, msn: number, part: number): boolean {
  if (timeline.nextMsn === null || msn < timeline.nextMsn) return false;
  const perSegment = getPartsPerSegment(timeline);
  const lastListed = timeline.nextMsn * perSegment + getListedOpenParts(timeline).length - 1;
  return msn * perSegment + part - lastListed <= getAdvancePartLimit(timeline.partTarget);
}

/**
 * The number of the publish that uploaded a part the object has heard of (its bytes are in R2,
 * written before the commit), listed or not yet; undefined for a part it does not know.
 */
export function findPartPublish(timeline: Timeline, msn: number, part: number): number | undefined {
  const open = timeline.open.get(msn);
  const segment = open ?? timeline.segments.findLast((s) => s.msn === msn);
  return segment?.parts.find((p) => p.part === part)?.publish;
}
