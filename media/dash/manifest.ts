// A static DASH MPD (ISO/IEC 23009-1) over the same CMAF segments the HLS VOD lists: a new Period
// wherever any rendition starts a new run (a reconnect, a new init after an ffmpeg restart, a hole
// such as an EXT-X-GAP stand-in, which has no media and is never listed), so inside a Period every
// rendition plays one run with one init segment and one presentationTimeOffset; one
// AdaptationSet for the video renditions (they switch on the same 2 s GOP boundaries) and one for
// the audio-only rendition. Explicit SegmentList + SegmentTimeline rather than a template, because
// a rendition can miss a segment (a GAP stand-in) and $Number$ could not skip it. Pure: no I/O.
import type { VodSegment } from '../../protocol/media.ts';
import { splitIntoRuns, sumDurations, type VodRendition } from '../hls/vod-playlist.ts';

/** SegmentTimeline unit: milliseconds, the precision of the segment index. */
const TIMESCALE = 1000;

export interface DashInput {
  renditions: readonly VodRendition[];
  /**
   * The media time (seconds, from tfdt) of the first sample of each rendition in each Period, by
   * rendition name and the msn it starts the Period with: "presentationTimeOffset" maps it to the
   * Period start.
   */
  runStartMediaTime: ReadonlyMap<string, number>;
}

export function getRunKey(rendition: string, msn: number): string {
  return `${rendition}:${msn}`;
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('"', '&quot;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/** xs:duration, e.g. PT12.345S. */
function formatDuration(seconds: number): string {
  return `PT${Number(seconds.toFixed(3))}S`;
}

/**
 * S elements with repeat counts. Each d is the difference of rounded cumulative boundaries, so
 * millisecond rounding never accumulates into drift over a long VOD.
 */
function renderTimeline(segments: readonly VodSegment[], start: number): string {
  const entries: string[] = [];
  let current: { t: number | null; d: number; r: number } | null = null;
  let elapsed = 0;
  for (const segment of segments) {
    const d = Math.round((elapsed + segment.duration) * TIMESCALE) - Math.round(elapsed * TIMESCALE);
    elapsed += segment.duration;
    if (current && current.d === d) {
      current.r++;
      continue;
    }
    if (current) entries.push(formatS(current));
    current = { t: current ? null : start, d, r: 0 };
  }
  if (current) entries.push(formatS(current));
  return entries.join('');
}

function formatS(entry: { t: number | null; d: number; r: number }): string {
  const t = entry.t === null ? '' : ` t="${entry.t}"`;
  const r = entry.r > 0 ? ` r="${entry.r}"` : '';
  return `<S${t} d="${entry.d}"${r}/>`;
}

function renderRepresentation(
  rendition: VodRendition,
  segments: readonly VodSegment[],
  mediaTime: number,
): string {
  const info = rendition.info;
  const first = segments[0];
  if (!first) return '';
  const bandwidth = info.bandwidth;
  const attributes = [
    `id="${escapeXml(info.name)}"`,
    `bandwidth="${bandwidth}"`,
    `codecs="${escapeXml(info.codecs)}"`,
  ];
  if (info.width !== null && info.height !== null)
    attributes.push(`width="${info.width}" height="${info.height}"`);
  if (info.frameRate !== null) attributes.push(`frameRate="${Math.round(info.frameRate * 1000)}/1000"`);
  const offset = Math.round(mediaTime * TIMESCALE);
  const urls = segments.map((s) => `<SegmentURL media="${info.name}/${s.msn}.m4s"/>`).join('');
  return (
    `<Representation ${attributes.join(' ')}>` +
    `<SegmentList timescale="${TIMESCALE}" presentationTimeOffset="${offset}">` +
    `<Initialization sourceURL="${info.name}/init-${first.init}.mp4"/>` +
    `<SegmentTimeline>${renderTimeline(segments, offset)}</SegmentTimeline>${urls}</SegmentList>` +
    '</Representation>'
  );
}

export interface DashPeriod {
  /** The renditions present in the Period, in ladder order, each with its one run of segments. */
  representations: Array<{ rendition: VodRendition; segments: VodSegment[] }>;
  /** Seconds, measured on the first rendition present (the reference when it is there). */
  duration: number;
}

/**
 * Splits the VOD into Periods at every msn where some rendition starts a run. Renditions restart
 * (and miss segments) independently, so a boundary taken from one rendition only could put two
 * inits, or a hole, inside another rendition's Period.
 */
export function planDashPeriods(renditions: readonly VodRendition[]): DashPeriod[] {
  const starts = new Set<number>();
  for (const rendition of renditions) {
    for (const run of splitIntoRuns(rendition.segments)) {
      const first = run[0];
      if (first) starts.add(first.msn);
    }
  }
  const bounds = [...starts].sort((a, b) => a - b);
  return bounds.map((from, index) => {
    const to = bounds[index + 1] ?? Number.POSITIVE_INFINITY;
    const representations = renditions
      .map((rendition) => ({
        rendition,
        segments: rendition.segments.filter((s) => s.msn >= from && s.msn < to),
      }))
      .filter((entry) => entry.segments.length > 0);
    return { representations, duration: sumDurations(representations[0]?.segments ?? []) };
  });
}

/** The MPD: one Period per planDashPeriods entry, video and audio AdaptationSets in each. */
export function renderDashManifest(input: DashInput): string {
  const periods: string[] = [];
  let periodStart = 0;
  planDashPeriods(input.renditions).forEach((period, index) => {
    const sets: Record<'video' | 'audio', string[]> = { video: [], audio: [] };
    for (const { rendition, segments } of period.representations) {
      const first = segments[0];
      if (!first) continue;
      const mediaTime = input.runStartMediaTime.get(getRunKey(rendition.info.name, first.msn)) ?? 0;
      const kind = rendition.info.height === null ? 'audio' : 'video';
      sets[kind].push(renderRepresentation(rendition, segments, mediaTime));
    }
    const adaptationSets: string[] = [];
    if (sets.video.length > 0)
      adaptationSets.push(
        `<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">${sets.video.join('')}</AdaptationSet>`,
      );
    if (sets.audio.length > 0)
      adaptationSets.push(
        `<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">${sets.audio.join('')}</AdaptationSet>`,
      );
    periods.push(
      `<Period id="p${index}" start="${formatDuration(periodStart)}" duration="${formatDuration(period.duration)}">${adaptationSets.join('')}</Period>`,
    );
    periodStart += period.duration;
  });
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011,urn:mpeg:dash:profile:isoff-live:2011" ' +
    `type="static" mediaPresentationDuration="${formatDuration(periodStart)}" minBufferTime="PT2S">\n` +
    `${periods.join('\n')}\n</MPD>\n`
  );
}
