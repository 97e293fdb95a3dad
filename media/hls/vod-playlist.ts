// The HLS side of a past broadcast: media playlists over the live stream's own segments (no second
// copy of the media), split into runs at every reconnect or new init, and the map from VOD
// position to wall clock that clips and chat replay share. Pure: no I/O.
import type { RenditionName } from '../../protocol/ingest.ts';
import type { RenditionInfo, VodSegment } from '../../protocol/media.ts';

export interface VodRendition {
  info: RenditionInfo;
  segments: VodSegment[];
}

/** A stretch of the VOD without a discontinuity. */
export interface VodRun {
  start_seconds: number;
  /** Epoch ms of the run's first sample. */
  pdt: number;
  duration_seconds: number;
}

/**
 * Splits segments into runs that play without a discontinuity: a new run at a flagged
 * discontinuity (a reconnect), a new init (ffmpeg restarted), or a hole in the sequence numbers
 * (a segment that never reached R2, such as an EXT-X-GAP stand-in).
 */
export function splitIntoRuns<T extends Omit<VodSegment, 'size'>>(segments: readonly T[]): T[][] {
  const runs: T[][] = [];
  let previous: T | undefined;
  for (const segment of segments) {
    const current = runs.at(-1);
    const breaks =
      !current ||
      !previous ||
      segment.discontinuity ||
      segment.init !== previous.init ||
      segment.msn !== previous.msn + 1;
    if (breaks || !current) runs.push([segment]);
    else current.push(segment);
    previous = segment;
  }
  return runs;
}

export function sumDurations(segments: readonly { duration: number }[]): number {
  return segments.reduce((sum, s) => sum + s.duration, 0);
}

export function describeRuns(segments: readonly Omit<VodSegment, 'size'>[]): VodRun[] {
  const runs: VodRun[] = [];
  let start = 0;
  for (const run of splitIntoRuns(segments)) {
    const first = run[0];
    if (!first) continue;
    const duration = sumDurations(run);
    runs.push({ start_seconds: start, pdt: first.pdt, duration_seconds: duration });
    start += duration;
  }
  return runs;
}

/** Wall clock (epoch ms) at `position` seconds into the VOD; null past its end. */
export function mapPositionToWallClock(runs: readonly VodRun[], position: number): number | null {
  for (const run of runs) {
    if (position >= run.start_seconds && position < run.start_seconds + run.duration_seconds)
      return run.pdt + (position - run.start_seconds) * 1000;
  }
  return null;
}

/**
 * Seconds into the VOD at wall clock `at`. Inside a run it is exact; a moment that fell in a
 * reconnect gap shows at the start of the run after it, and one before the first sample at 0.
 */
export function mapWallClockToPosition(runs: readonly VodRun[], at: number): number {
  let position = 0;
  for (const run of runs) {
    if (at < run.pdt) return run.start_seconds;
    const end = run.pdt + run.duration_seconds * 1000;
    if (at < end) return run.start_seconds + (at - run.pdt) / 1000;
    position = run.start_seconds + run.duration_seconds;
  }
  return position;
}

function formatDate(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/**
 * One rendition's VOD playlist. "EXT-X-PLAYLIST-TYPE:VOD ... the Media Playlist file MUST NOT
 * change" and it ends with EXT-X-ENDLIST. URIs are relative to /vod/{vod}/{rendition}.m3u8.
 */
export function renderVodMediaPlaylist(rendition: RenditionName, segments: readonly VodSegment[]): string {
  // "The EXTINF duration of each Media Segment ... when rounded to the nearest integer, MUST be
  // less than or equal to the Target Duration."
  const targetDuration = Math.max(1, ...segments.map((s) => Math.round(s.duration)));
  // EXT-X-MAP in a playlist without I-frames only needs version 6.
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
    `#EXT-X-MEDIA-SEQUENCE:${segments[0]?.msn ?? 0}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  splitIntoRuns(segments).forEach((run, index) => {
    const first = run[0];
    if (!first) return;
    // "EXT-X-DISCONTINUITY ... MUST be present if ... file format, encoding parameters or timestamp
    // sequence" change: every run after the first starts with one, a new MAP and its own clock.
    if (index > 0) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-MAP:URI="${rendition}/init-${first.init}.mp4"`);
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${formatDate(first.pdt)}`);
    for (const segment of run) {
      lines.push(`#EXTINF:${segment.duration.toFixed(5)},`, `${rendition}/${segment.msn}.m4s`);
    }
  });
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

/** Peak and average bits per second measured on the stored segments. */
export function measureBandwidth(segments: readonly VodSegment[]): { peak: number; average: number } {
  let peak = 0;
  let bytes = 0;
  let seconds = 0;
  for (const s of segments) {
    if (s.duration <= 0) continue;
    peak = Math.max(peak, Math.ceil((s.size * 8) / s.duration));
    bytes += s.size;
    seconds += s.duration;
  }
  const average = seconds > 0 ? Math.ceil((bytes * 8) / seconds) : 0;
  return { peak, average };
}
