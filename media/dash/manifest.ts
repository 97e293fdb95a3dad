// A static DASH MPD (ISO/IEC 23009-1) over the same CMAF segments the HLS VOD lists, shaped as the
// DASH-IF interoperability guidelines (IOP v4.3) ask, which is what dash.js and Shaka Player play:
// - One media component per Representation (IOP 3.2.1): one AdaptationSet of video
//   Representations and one of audio. The transcoder's video renditions are muxed audio+video, so
//   their Representations point at single-track segments the Worker derives at the edge
//   (single-track.ts, served under {rendition}/track-{id}/); the audio AdaptationSet is the
//   audio-only rendition, or the audio track of a muxed rendition when there is none.
// - A new Period wherever any rendition starts a new run (a reconnect, a new init after an ffmpeg
//   restart, a hole such as an EXT-X-GAP stand-in, which has no media and is never listed), so
//   inside a Period every Representation plays one run: one init, one presentationTimeOffset, and
//   consecutive segment numbers, which makes SegmentTemplate with $Number$ and a SegmentTimeline
//   exact (IOP 3.2.9's preferred addressing; the timeline carries each segment's real duration).
// - The isoff-live profile, which SegmentTemplate addressing belongs to (23009-1 8.4).
// Pure: no I/O.
import type { VodSegment } from '../../protocol/media.ts';
import { splitIntoRuns, sumDurations, type VodRendition } from '../hls/vod-playlist.ts';
import { readBoxes } from '../mp4/boxes.ts';
import { readMoof } from '../mp4/fragments.ts';
import { readInit } from '../mp4/init.ts';
import { type AudioFormat, readAudioFormat } from './single-track.ts';

/** SegmentTimeline unit: milliseconds, the precision of the segment index. */
const TIMESCALE = 1000;
/** "urn:mpeg:dash:23003:3:audio_channel_configuration:2011" counts channels (23009-1 5.8.5.4). */
const CHANNEL_SCHEME = 'urn:mpeg:dash:23003:3:audio_channel_configuration:2011';

/** One track of a rendition's run, read from its init segment and the head of its first segment. */
export interface DashTrack {
  trackId: number;
  kind: 'video' | 'audio';
  /** RFC 6381 codec of the track alone. */
  codec: string;
  /** Seconds: the decode time (tfdt) of the track's first sample in the run. */
  startTime: number;
  audio: AudioFormat | null;
}

/** The tracks of one run of one rendition, and whether its stored segments hold only one. */
export interface DashRun {
  tracks: DashTrack[];
}

export interface DashInput {
  renditions: readonly VodRendition[];
  /**
   * The tracks of each rendition in each Period, by getRunKey(rendition, first msn of the Period).
   * A rendition missing here (its init unreadable) is left out of that Period.
   */
  runs: ReadonlyMap<string, DashRun>;
}

export function getRunKey(rendition: string, msn: number): string {
  return `${rendition}:${msn}`;
}

/**
 * The tracks of a run from its init segment and the head of its first segment (which must hold
 * the first moof whole): the start time of each track is its tfdt in the first moof that has it.
 */
export function describeRun(init: Uint8Array, head: Uint8Array): DashRun {
  const facts = readInit(init);
  const starts = new Map<number, number>();
  for (const box of readBoxes(head, 0, findWholeBoxesEnd(head))) {
    if (box.type !== 'moof') continue;
    for (const traf of readMoof(head, box, facts).trafs)
      if (!starts.has(traf.trackId)) starts.set(traf.trackId, traf.baseMediaDecodeTime);
    if (starts.size >= facts.tracks.length) break;
  }
  const tracks: DashTrack[] = [];
  for (const track of facts.tracks) {
    const kind = track.handler === 'vide' ? 'video' : track.handler === 'soun' ? 'audio' : null;
    if (kind === null || track.timescale === 0) continue;
    tracks.push({
      trackId: track.trackId,
      kind,
      codec: track.codec,
      startTime: (starts.get(track.trackId) ?? 0) / track.timescale,
      audio: kind === 'audio' ? readAudioFormat(init, track.trackId) : null,
    });
  }
  return { tracks };
}

/** The end of the last box of `bytes` that is there whole (a ranged read cuts the last one). */
function findWholeBoxesEnd(bytes: Uint8Array): number {
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + 8 <= bytes.byteLength) {
    const size = data.getUint32(offset);
    if (size < 8 || offset + size > bytes.byteLength) break;
    offset += size;
  }
  return offset;
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

/** A Representation to render: one track of one rendition's run in a Period. */
interface TrackChoice {
  id: string;
  rendition: VodRendition;
  segments: readonly VodSegment[];
  track: DashTrack;
  /** The stored segments hold this track only: the Representation points at them as they are. */
  alone: boolean;
}

function renderRepresentation(choice: TrackChoice): string {
  const { rendition, segments, track } = choice;
  const info = rendition.info;
  const first = segments[0];
  if (!first) return '';
  const attributes = [
    `id="${escapeXml(choice.id)}"`,
    `bandwidth="${Math.max(1, Math.round(info.bandwidth))}"`,
  ];
  attributes.push(`codecs="${escapeXml(track.codec)}"`);
  let descriptors = '';
  if (track.kind === 'video') {
    if (info.width !== null && info.height !== null)
      attributes.push(`width="${info.width}" height="${info.height}"`);
    if (info.frameRate !== null) attributes.push(`frameRate="${Math.round(info.frameRate * 1000)}/1000"`);
  } else if (track.audio) {
    attributes.push(`audioSamplingRate="${track.audio.sampleRate}"`);
    descriptors = `<AudioChannelConfiguration schemeIdUri="${CHANNEL_SCHEME}" value="${track.audio.channels}"/>`;
  }
  const base = choice.alone ? info.name : `${info.name}/track-${track.trackId}`;
  const offset = Math.round(track.startTime * TIMESCALE);
  return (
    `<Representation ${attributes.join(' ')}>${descriptors}` +
    `<SegmentTemplate timescale="${TIMESCALE}" presentationTimeOffset="${offset}" startNumber="${first.msn}" ` +
    `initialization="${escapeXml(base)}/init-${first.init}.mp4" media="${escapeXml(base)}/$Number$.m4s">` +
    `<SegmentTimeline>${renderTimeline(segments, offset)}</SegmentTimeline></SegmentTemplate>` +
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

/**
 * The Representations of a Period: every rendition with a video track in the video set; in the
 * audio set the audio-only rendition, else the audio track of the first rendition that has one.
 */
function chooseTracks(
  period: DashPeriod,
  runs: ReadonlyMap<string, DashRun>,
): Record<'video' | 'audio', TrackChoice[]> {
  const choices: Record<'video' | 'audio', TrackChoice[]> = { video: [], audio: [] };
  const audioCandidates: TrackChoice[] = [];
  for (const { rendition, segments } of period.representations) {
    const first = segments[0];
    const run = first ? runs.get(getRunKey(rendition.info.name, first.msn)) : undefined;
    if (!run) continue;
    const alone = run.tracks.length === 1;
    const video = run.tracks.find((t) => t.kind === 'video');
    const audio = run.tracks.find((t) => t.kind === 'audio');
    if (video) choices.video.push({ id: rendition.info.name, rendition, segments, track: video, alone });
    if (audio) {
      const choice = {
        id: video ? `${rendition.info.name}-audio` : rendition.info.name,
        rendition,
        segments,
        track: audio,
        alone,
      };
      if (video) audioCandidates.push(choice);
      else choices.audio.push(choice);
    }
  }
  const fallback = audioCandidates[0];
  if (choices.audio.length === 0 && fallback) choices.audio.push(fallback);
  return choices;
}

/** The MPD: one Period per planDashPeriods entry, a video and an audio AdaptationSet in each. */
export function renderDashManifest(input: DashInput): string {
  const periods: string[] = [];
  let periodStart = 0;
  planDashPeriods(input.renditions).forEach((period, index) => {
    const choices = chooseTracks(period, input.runs);
    const adaptationSets: string[] = [];
    // "segmentAlignment" and "startWithSAP=1": every segment starts at a keyframe on the shared
    // 2 s grid (protocol/media.ts GOP_SECONDS), which is what lets a player switch between them.
    if (choices.video.length > 0)
      adaptationSets.push(
        `<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">${choices.video.map(renderRepresentation).join('')}</AdaptationSet>`,
      );
    if (choices.audio.length > 0)
      adaptationSets.push(
        `<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">${choices.audio.map(renderRepresentation).join('')}</AdaptationSet>`,
      );
    periods.push(
      `<Period id="p${index}" start="${formatDuration(periodStart)}" duration="${formatDuration(period.duration)}">${adaptationSets.join('')}</Period>`,
    );
    periodStart += period.duration;
  });
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" ' +
    `type="static" mediaPresentationDuration="${formatDuration(periodStart)}" minBufferTime="PT2S">\n` +
    `${periods.join('\n')}\n</MPD>\n`
  );
}
