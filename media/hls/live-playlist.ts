// Renders LL-HLS playlists from the in-memory timelines. Pure: no I/O, so every rule is tested
// directly and the DO renders a playlist per request without touching storage.
import type { RenditionName } from '../../protocol/ingest.ts';
import { TARGET_DURATION } from '../../protocol/media.ts';
import { getInitUri, getPartUri, getSegmentUri } from '../live-keys.ts';
import { type Interstitial, renderInterstitials } from './interstitials.ts';
import {
  getLastPart,
  getListedOpenParts,
  type PartEntry,
  type SegmentEntry,
  type Timeline,
} from './timeline.ts';

/** "CAN-SKIP-UNTIL ... MUST be at least six times the Target Duration." */
export const CAN_SKIP_UNTIL = 6 * TARGET_DURATION;
/** "HOLD-BACK ... MUST be at least three times the Target Duration." */
export const HOLD_BACK = 3 * TARGET_DURATION;
/** Parts stay listed for the segments that end within this many seconds of the live edge. */
const PART_LISTING_SECONDS = 3 * TARGET_DURATION;

export interface MediaPlaylistInput {
  streamId: string;
  rendition: RenditionName;
  timeline: Timeline;
  /** The other renditions of the stream, for EXT-X-RENDITION-REPORT. */
  others: ReadonlyArray<{ name: RenditionName; timeline: Timeline }>;
  ended: boolean;
  /** `_HLS_skip=YES|v2`: a delta update. */
  skip: boolean;
  /** The number of the stream's current publish: the hinted part will carry it. */
  publish: number;
  /** Ad breaks (interstitials.ts): each listed while its range overlaps the playlist's. */
  interstitials?: readonly Interstitial[];
}

/** Decimal seconds with at most 5 places and no trailing zeros (attribute values). */
export function formatSeconds(seconds: number): string {
  return String(Number(seconds.toFixed(5)));
}

/** "PART-HOLD-BACK ... MUST be at least twice the Part Target ... SHOULD be at least three times." */
export function getPartHoldBack(partTarget: number): number {
  // Rounded up at the 5 decimals it is printed with, so the printed value never falls below 3×.
  return Math.ceil(3 * partTarget * 1e5 - 1e-6) / 1e5;
}

/**
 * How many leading segments a delta update replaces with EXT-X-SKIP. "The Server MUST NOT skip a
 * Media Segment ... whose start is less than the Skip Boundary (CAN-SKIP-UNTIL) from the end."
 */
export function countSkippableSegments(segments: readonly SegmentEntry[]): number {
  let fromEnd = 0;
  let index = segments.length;
  while (index > 0) {
    const segment = segments[index - 1];
    if (!segment) break;
    fromEnd += segment.duration;
    if (fromEnd > CAN_SKIP_UNTIL) break;
    index--;
  }
  // segments[index - 1] starts more than CAN-SKIP-UNTIL before the end: it and all before it go.
  return Math.max(0, index);
}

function renderPart(lines: string[], input: MediaPlaylistInput, msn: number, part: PartEntry): void {
  const uri = getPartUri(input.streamId, input.rendition, msn, part.part, part.publish);
  const independent = part.independent ? ',INDEPENDENT=YES' : '';
  lines.push(`#EXT-X-PART:DURATION=${formatSeconds(part.duration)},URI="${uri}"${independent}`);
}

function formatDate(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

export function renderMediaPlaylist(input: MediaPlaylistInput): string {
  const { timeline, streamId, rendition } = input;
  const segments = timeline.segments;
  const first = segments[0];
  const openParts = input.ended ? [] : getListedOpenParts(timeline);
  const mediaSequence = first?.msn ?? timeline.nextMsn ?? 0;
  // The first listed segment's discontinuity is counted in the sequence number instead of tagged:
  // "the Discontinuity Sequence Number of the first Media Segment" is the tag's value.
  const discontinuitySequence = timeline.removedDiscontinuities + (first?.discontinuity ? 1 : 0);

  // "EXT-X-SKIP ... REQUIRES a compatibility version number of 9 or greater."
  const lines = ['#EXTM3U', '#EXT-X-VERSION:9', `#EXT-X-TARGETDURATION:${TARGET_DURATION}`];
  lines.push(
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${formatSeconds(getPartHoldBack(timeline.partTarget))}` +
      `,HOLD-BACK=${HOLD_BACK},CAN-SKIP-UNTIL=${CAN_SKIP_UNTIL}`,
  );
  // "EXT-X-PART-INF ... is REQUIRED if a Media Playlist contains one or more EXT-X-PART tags."
  lines.push(`#EXT-X-PART-INF:PART-TARGET=${formatSeconds(timeline.partTarget)}`);
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`);
  if (discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence}`);

  const skipped = input.skip && !input.ended ? countSkippableSegments(segments) : 0;
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  // Delta updates keep them too: only a v2 skip may leave DATERANGE tags out, and none is offered.
  if (first && input.interstitials) lines.push(...renderInterstitials(input.interstitials, first.pdt));

  // Parts are listed for segments that end within PART_LISTING_SECONDS of the live edge.
  let partsFrom = segments.length;
  for (let seconds = 0; partsFrom > 0 && seconds < PART_LISTING_SECONDS; partsFrom--) {
    seconds += segments[partsFrom - 1]?.duration ?? 0;
  }

  let previousInit: number | null = null;
  for (let i = skipped; i < segments.length; i++) {
    const segment = segments[i];
    if (!segment) continue;
    const leading = i === skipped;
    if (segment.discontinuity && i > 0) lines.push('#EXT-X-DISCONTINUITY');
    if (previousInit !== segment.init) {
      lines.push(`#EXT-X-MAP:URI="${getInitUri(streamId, rendition, segment.init)}"`);
      previousInit = segment.init;
    }
    // PROGRAM-DATE-TIME on the first segment listed (after a skip too) and after every
    // discontinuity, where the clock cannot be carried over from the previous segment.
    if (leading || segment.discontinuity) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${formatDate(segment.pdt)}`);
    if (i >= partsFrom && !input.ended) {
      for (const part of segment.parts) renderPart(lines, input, segment.msn, part);
    }
    if (segment.gap) lines.push('#EXT-X-GAP');
    lines.push(`#EXTINF:${segment.duration.toFixed(5)},`);
    lines.push(getSegmentUri(streamId, rendition, segment.msn));
  }

  const nextMsn = timeline.nextMsn ?? mediaSequence;
  const open = timeline.open.get(nextMsn);
  if (openParts.length > 0 && open) {
    if (open.discontinuity && segments.length > 0) lines.push('#EXT-X-DISCONTINUITY');
    if (previousInit !== open.init)
      lines.push(`#EXT-X-MAP:URI="${getInitUri(streamId, rendition, open.init)}"`);
    if (segments.length === 0 || open.discontinuity) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${formatDate(openParts[0]?.pdt ?? Date.now())}`);
    }
    for (const part of openParts) renderPart(lines, input, nextMsn, part);
  }

  if (!input.ended) {
    // "A server SHOULD ... EXT-X-PRELOAD-HINT ... TYPE=PART" for the part after the last listed.
    lines.push(
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${getPartUri(streamId, rendition, nextMsn, openParts.length, input.publish)}"`,
    );
  }

  // "Rendition Reports ... SHOULD be present for every Rendition in the Multivariant Playlist."
  for (const other of input.others) {
    const last = getLastPart(other.timeline);
    if (!last) continue;
    lines.push(
      `#EXT-X-RENDITION-REPORT:URI="${other.name}.m3u8",LAST-MSN=${last.msn},LAST-PART=${last.part}`,
    );
  }
  if (input.ended) lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
