// Turns one rendition's fragmented-MP4 pipe into LL-HLS units: the init segment, one part per
// moof+mdat (~200 ms), and a segment each time a keyframe starts a new GOP (2 s). Knows nothing of
// HTTP or ffmpeg: bytes in, events out.
import type { Readable } from 'node:stream';
import { BoxReader, type OwnedBox } from '../../../../media/mp4/boxes.ts';
import { isSyncSample, readMoof } from '../../../../media/mp4/fragments.ts';
import { type InitFacts, readMoov, type TrackFacts } from '../../../../media/mp4/init.ts';
import { GOP_SECONDS } from '../../../../protocol/media.ts';

/** Video parts: ffmpeg cuts a fragment as soon as it holds 200 ms (6 frames at 30 fps, 12 at 60). */
export const VIDEO_PART_TARGET_SECONDS = 0.2;
/** Audio-only parts: ten 1024-sample AAC frames at 48 kHz, the first whole frame count past 200 ms. */
export const AUDIO_PART_TARGET_SECONDS = (1024 * 10) / 48_000;
/**
 * Audio-only segment n holds the parts that start in [2n, 2n + 2) of the run's media time: the
 * grid the video renditions' forced keyframes cut on, so every rendition reaches msn N together.
 * "Matching content in Variant Streams MUST have matching Discontinuity Sequence Numbers" (RFC
 * 8216bis 6.2.4) cannot hold on a reconnect if the audio msn drifted ahead (a fixed 9 parts of
 * 0.2133 s would gain 13 segments in 10 minutes). The grid gives 10 and 9 parts in turn (2.13 s,
 * 1.92 s), and "The EXTINF duration of each Media Segment [...] when rounded to the nearest integer,
 * MUST be less than or equal to the Target Duration" (4.4.3.1) still holds with a target of 2.
 */
export const AUDIO_SEGMENT_GRID_SECONDS = GOP_SECONDS;
/** A part starting a hair before a grid line (timescale rounding) belongs to the next segment. */
const GRID_TOLERANCE_SECONDS = 1e-6;

/**
 * PART-TARGET of a video rendition at `fps`: the duration of the whole number of frames ffmpeg puts
 * in a 200 ms fragment. 0.2 at 25/30/50/60 fps; a frame over at 24 or 29.97 fps, because "the
 * duration of each Partial Segment MUST be less than or equal to the Part Target Duration".
 */
export function computeVideoPartTarget(fps: number): number {
  const frames = Math.ceil(VIDEO_PART_TARGET_SECONDS * fps - 1e-6);
  return Math.max(VIDEO_PART_TARGET_SECONDS, frames / fps);
}

export interface InitEvent {
  kind: 'init';
  bytes: Buffer;
  /** RFC 6381 codecs of every track, video first: "avc1.64001f,mp4a.40.2". */
  codecs: string;
  width?: number;
  height?: number;
  timescales: { video?: number; audio?: number };
  hasVideo: boolean;
  hasAudio: boolean;
  /** True for the init of a restarted encoder: the playlist needs EXT-X-DISCONTINUITY before what follows. */
  discontinuity: boolean;
}

export interface PartEvent {
  kind: 'part';
  bytes: Buffer;
  msn: number;
  part: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  /** Wall clock (epoch ms) of the part's first sample. */
  pdt: number;
}

export interface SegmentEvent {
  kind: 'segment';
  /** The segment's parts concatenated; playable after the init segment. */
  bytes: Buffer;
  msn: number;
  duration: number;
  parts: number;
  pdt: number;
}

export type PackagerEvent = InitEvent | PartEvent | SegmentEvent;

export interface CmafPackagerOptions {
  /** Media sequence number of the first segment (AuthorizeResponse.next_msn). */
  firstMsn: number;
  /** Epoch ms that media time 0 of this encoder run corresponds to. */
  wallClockAtTimeZero: number;
  /** PART-TARGET to announce, e.g. computeVideoPartTarget(29.97); by default fixed by the first init. */
  partTarget?: number;
  maxBoxSize?: number;
}

interface OpenSegment {
  msn: number;
  parts: Buffer[];
  duration: number;
  pdt: number;
  /** Audio-only: n of the [2n, 2n + 2) grid cell the segment fills. */
  gridCell: number;
}

export class CmafPackager {
  readonly #maxBoxSize: number | undefined;
  #reader: BoxReader;
  #wallClockAtTimeZero: number;
  #nextMsn: number;
  #runs = 0;
  /** ftyp and anything else before the moov, then the moov: the init segment. */
  #initPrefix: Uint8Array[] = [];
  #init: InitFacts | null = null;
  #timingTrack: TrackFacts | null = null;
  #partTarget: number | null = null;
  /** Boxes seen since the last mdat (styp, sidx, prft, moof) that open the next part. */
  #pendingPartBoxes: Uint8Array[] = [];
  #pendingMoof: OwnedBox | null = null;
  #segment: OpenSegment | null = null;

  constructor(options: CmafPackagerOptions) {
    this.#maxBoxSize = options.maxBoxSize;
    this.#reader = new BoxReader({ maxBoxSize: options.maxBoxSize });
    this.#wallClockAtTimeZero = options.wallClockAtTimeZero;
    this.#nextMsn = options.firstMsn;
    this.#partTarget = options.partTarget ?? null;
  }

  /** The msn the next segment will carry; hand it to a successor packager to continue numbering. */
  get nextMsn(): number {
    return this.#nextMsn;
  }

  /** PART-TARGET in seconds once the init segment has been seen (it fixes video vs audio-only). */
  get partTarget(): number | null {
    return this.#partTarget;
  }

  /** Feeds bytes from the pipe; returns the events they complete, in order. */
  push(chunk: Buffer): PackagerEvent[] {
    const events: PackagerEvent[] = [];
    for (const box of this.#reader.push(chunk)) this.#handleBox(box, events);
    return events;
  }

  /** Closes the open segment (end of stream or encoder restart). Incomplete boxes are discarded. */
  flush(): PackagerEvent[] {
    const events: PackagerEvent[] = [];
    this.#closeSegment(events);
    return events;
  }

  /**
   * Starts over for a new encoder run: flushes the open segment, then expects a new init segment.
   * msn keeps counting so the playlist continues across the restart.
   */
  reset(wallClockAtTimeZero: number): PackagerEvent[] {
    const events = this.flush();
    this.#reader = new BoxReader({ maxBoxSize: this.#maxBoxSize });
    this.#wallClockAtTimeZero = wallClockAtTimeZero;
    this.#initPrefix = [];
    this.#init = null;
    this.#timingTrack = null;
    this.#pendingPartBoxes = [];
    this.#pendingMoof = null;
    return events;
  }

  /** Reads a rendition pipe to its end, handing each event to `onEvent` (awaited, so back-pressure holds). */
  async consume(readable: Readable, onEvent: (event: PackagerEvent) => void | Promise<void>): Promise<void> {
    for await (const chunk of readable) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      for (const event of this.push(bytes)) await onEvent(event);
    }
    for (const event of this.flush()) await onEvent(event);
  }

  #handleBox(box: OwnedBox, events: PackagerEvent[]): void {
    if (this.#init === null) {
      this.#initPrefix.push(box.bytes);
      if (box.type === 'moov') this.#emitInit(box, events);
      return;
    }
    switch (box.type) {
      case 'moof':
        this.#pendingMoof = box;
        this.#pendingPartBoxes.push(box.bytes);
        return;
      case 'mdat':
        if (this.#pendingMoof === null) return; // an mdat without its moof cannot be described
        this.#pendingPartBoxes.push(box.bytes);
        this.#emitPart(this.#pendingMoof, Buffer.concat(this.#pendingPartBoxes), events);
        this.#pendingMoof = null;
        this.#pendingPartBoxes = [];
        return;
      case 'mfra':
      case 'free':
      case 'skip':
        return; // trailer and padding: not media
      default:
        // styp, sidx, prft, emsg belong with the fragment they precede.
        this.#pendingPartBoxes.push(box.bytes);
    }
  }

  #emitInit(moov: OwnedBox, events: PackagerEvent[]): void {
    const init = readMoov(moov.bytes, moov);
    const video = init.tracks.find((track) => track.handler === 'vide');
    const audio = init.tracks.find((track) => track.handler === 'soun');
    this.#init = init;
    // In muxed fragments the audio duration wobbles (0.17-0.21 s) while video is exact: time by video.
    this.#timingTrack = video ?? audio ?? init.tracks[0] ?? null;
    // PART-TARGET never changes during a stream, so the first run fixes it.
    this.#partTarget ??= video === undefined ? AUDIO_PART_TARGET_SECONDS : VIDEO_PART_TARGET_SECONDS;
    const ordered = [...(video ? [video] : []), ...(audio ? [audio] : [])];
    const event: InitEvent = {
      kind: 'init',
      bytes: Buffer.concat(this.#initPrefix),
      codecs: ordered.map((track) => track.codec).join(','),
      timescales: {},
      hasVideo: video !== undefined,
      hasAudio: audio !== undefined,
      discontinuity: this.#runs > 0,
    };
    if (video !== undefined) {
      event.timescales.video = video.timescale;
      if (video.width !== null) event.width = video.width;
      if (video.height !== null) event.height = video.height;
    }
    if (audio !== undefined) event.timescales.audio = audio.timescale;
    this.#runs += 1;
    this.#initPrefix = [];
    events.push(event);
  }

  #emitPart(moof: OwnedBox, bytes: Buffer, events: PackagerEvent[]): void {
    const init = this.#init;
    const timing = this.#timingTrack;
    if (init === null || timing === null) return;
    const fragment = readMoof(moof.bytes, moof, init);
    const traf =
      fragment.trafs.find((candidate) => candidate.trackId === timing.trackId) ?? fragment.trafs[0];
    if (traf === undefined) return;
    const track = init.tracks.find((candidate) => candidate.trackId === traf.trackId) ?? timing;
    const duration = traf.duration / track.timescale;
    const startSeconds = traf.baseMediaDecodeTime / track.timescale;
    const pdt = this.#wallClockAtTimeZero + startSeconds * 1000;
    const audioOnly = timing.handler !== 'vide';
    // Every AAC frame is a sync sample, so each audio-only part is independent.
    const independent = audioOnly || isSyncSample(traf.firstSampleFlags);
    const gridCell = Math.floor((startSeconds + GRID_TOLERANCE_SECONDS) / AUDIO_SEGMENT_GRID_SECONDS);

    // Video: "Each Media Segment ... SHOULD begin with an IDR": an independent part opens a segment.
    // Audio-only: a part starting in the next grid cell opens a segment.
    const open = this.#segment;
    if (open !== null) {
      const closeForKeyframe = !audioOnly && independent;
      const closeForGrid = audioOnly && gridCell > open.gridCell;
      if (closeForKeyframe || closeForGrid) this.#closeSegment(events);
    }
    const segment = this.#segment ?? this.#openSegment(pdt, gridCell);
    events.push({
      kind: 'part',
      bytes,
      msn: segment.msn,
      part: segment.parts.length,
      duration,
      independent,
      pdt,
    });
    segment.parts.push(bytes);
    segment.duration += duration;
  }

  #openSegment(pdt: number, gridCell: number): OpenSegment {
    const segment: OpenSegment = { msn: this.#nextMsn, parts: [], duration: 0, pdt, gridCell };
    this.#nextMsn += 1;
    this.#segment = segment;
    return segment;
  }

  #closeSegment(events: PackagerEvent[]): void {
    const segment = this.#segment;
    this.#segment = null;
    if (segment === null || segment.parts.length === 0) return;
    events.push({
      kind: 'segment',
      bytes: Buffer.concat(segment.parts),
      msn: segment.msn,
      duration: segment.duration,
      parts: segment.parts.length,
      pdt: segment.pdt,
    });
  }
}
