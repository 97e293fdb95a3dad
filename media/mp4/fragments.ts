// Movie fragments (moof + mdat) of CMAF parts and segments: per track, the decode time (tfdt), the
// sample count and summed duration, and the first sample's flags resolved through trun, tfhd and
// the init's trex defaults (ISO/IEC 14496-12 8.8). The packager reads them to time parts and find
// keyframes; the Worker to cut clips and date VOD segments.
import {
  type Box,
  BoxFormatError,
  readBoxes,
  readChildren,
  readUint64,
  requireChild,
  viewOf,
} from './boxes.ts';
import type { InitFacts, TrackFacts } from './init.ts';

/** sample_depends_on / sample_is_non_sync_sample: a sample is a sync sample when this bit is clear. */
export const SAMPLE_IS_NON_SYNC_FLAG = 0x0001_0000;

/** True when the flags describe a sync sample (a keyframe). */
export function isSyncSample(flags: number): boolean {
  return (flags & SAMPLE_IS_NON_SYNC_FLAG) === 0;
}

export interface TrackFragment {
  trackId: number;
  /** Offset of the tfdt box in the bytes read, or null without one. */
  tfdt: number | null;
  baseMediaDecodeTime: number;
  sampleCount: number;
  /** Sum of the sample durations, in the track's timescale. */
  duration: number;
  /** Flags of the first sample, resolved through trun, tfhd and trex defaults. */
  firstSampleFlags: number;
}

export interface MovieFragment {
  sequenceNumber: number;
  /** Offset of the mfhd box in the bytes read, or null without one. */
  mfhd: number | null;
  trafs: TrackFragment[];
}

/** A fragment of a segment: the moof and every box up to the next moof (its mdat). */
export interface Fragment extends MovieFragment {
  start: number;
  end: number;
}

/** Parses a moof box of `bytes`, resolving defaults against the tracks of the init segment. */
export function readMoof(bytes: Uint8Array, moof: Box, init: InitFacts): MovieFragment {
  const data = viewOf(bytes);
  const children = readChildren(bytes, moof);
  const mfhd = children.find((b) => b.type === 'mfhd');
  return {
    // mfhd: version/flags, then sequence_number.
    sequenceNumber: mfhd === undefined ? 0 : data.getUint32(mfhd.payload + 4),
    mfhd: mfhd?.start ?? null,
    trafs: children.filter((b) => b.type === 'traf').map((traf) => readTraf(bytes, traf, init)),
  };
}

function readTraf(bytes: Uint8Array, traf: Box, init: InitFacts): TrackFragment {
  const data = viewOf(bytes);
  const tfhd = requireChild(bytes, traf, 'tfhd');
  const tfhdFlags = data.getUint32(tfhd.payload) & 0xff_ffff;
  const trackId = data.getUint32(tfhd.payload + 4);
  const track: TrackFacts | undefined = init.tracks.find((t) => t.trackId === trackId);
  // tfhd optional fields in order: base_data_offset (0x1, 8 bytes), sample_description_index
  // (0x2), default_sample_duration (0x8), default_sample_size (0x10), default_sample_flags (0x20).
  let field = tfhd.payload + 8;
  if (tfhdFlags & 0x01) field += 8;
  if (tfhdFlags & 0x02) field += 4;
  let defaultDuration = track?.defaultSampleDuration ?? 0;
  if (tfhdFlags & 0x08) {
    defaultDuration = data.getUint32(field);
    field += 4;
  }
  if (tfhdFlags & 0x10) field += 4;
  let defaultFlags = track?.defaultSampleFlags ?? 0;
  if (tfhdFlags & 0x20) defaultFlags = data.getUint32(field);

  const children = readChildren(bytes, traf);
  const tfdt = children.find((b) => b.type === 'tfdt');
  let baseMediaDecodeTime = 0;
  if (tfdt !== undefined) {
    baseMediaDecodeTime =
      bytes[tfdt.payload] === 1 ? readUint64(data, tfdt.payload + 4) : data.getUint32(tfdt.payload + 4);
  }
  let sampleCount = 0;
  let duration = 0;
  let firstSampleFlags: number | null = null;
  for (const trun of children.filter((b) => b.type === 'trun')) {
    const run = readTrun(bytes, trun, defaultDuration, defaultFlags);
    if (firstSampleFlags === null && run.sampleCount > 0) firstSampleFlags = run.firstSampleFlags;
    sampleCount += run.sampleCount;
    duration += run.duration;
  }
  return {
    trackId,
    tfdt: tfdt?.start ?? null,
    baseMediaDecodeTime,
    sampleCount,
    duration,
    firstSampleFlags: firstSampleFlags ?? defaultFlags,
  };
}

function readTrun(
  bytes: Uint8Array,
  trun: Box,
  defaultDuration: number,
  defaultFlags: number,
): { sampleCount: number; duration: number; firstSampleFlags: number } {
  const data = viewOf(bytes);
  const flags = data.getUint32(trun.payload) & 0xff_ffff;
  const sampleCount = data.getUint32(trun.payload + 4);
  let offset = trun.payload + 8;
  if (flags & 0x001) offset += 4; // data_offset
  let explicitFirstFlags: number | null = null;
  if (flags & 0x004) {
    explicitFirstFlags = data.getUint32(offset);
    offset += 4;
  }
  const hasDuration = (flags & 0x100) !== 0;
  const hasSize = (flags & 0x200) !== 0;
  const hasFlags = (flags & 0x400) !== 0;
  const hasCto = (flags & 0x800) !== 0;
  const stride = 4 * (Number(hasDuration) + Number(hasSize) + Number(hasFlags) + Number(hasCto));
  // A sample_count the box cannot hold is a corrupt (or hostile) fragment: refuse it rather than
  // read the next box's bytes as sample durations.
  if (offset + stride * sampleCount > trun.start + trun.size)
    throw new BoxFormatError(`trun of ${sampleCount} samples overruns its box at ${trun.start}`);
  let duration = 0;
  let firstSampleFlags = explicitFirstFlags ?? defaultFlags;
  for (let i = 0; i < sampleCount; i += 1) {
    let field = offset + i * stride;
    if (hasDuration) {
      duration += data.getUint32(field);
      field += 4;
    } else {
      duration += defaultDuration;
    }
    if (hasSize) field += 4;
    // "first_sample_flags ... overrides the default flags for the first sample only"; otherwise
    // per-sample flags, then the defaults, decide (ISO/IEC 14496-12 8.8.8).
    if (i === 0 && hasFlags && explicitFirstFlags === null) firstSampleFlags = data.getUint32(field);
  }
  return { sampleCount, duration, firstSampleFlags };
}

/** The fragments (moof and the boxes after it) of a CMAF segment or part, in order. */
export function readFragments(bytes: Uint8Array, init: InitFacts): Fragment[] {
  const fragments: Fragment[] = [];
  for (const box of readBoxes(bytes)) {
    if (box.type === 'moof') {
      fragments.push({ ...readMoof(bytes, box, init), start: box.start, end: box.start + box.size });
    } else {
      const last = fragments.at(-1);
      // mdat (and anything else after a moof) belongs to that fragment; styp/sidx before any are dropped.
      if (last) last.end = box.start + box.size;
    }
  }
  return fragments;
}

/** The traf of the first video track (else the first track) of a fragment, with its track. */
function pickTimingTraf(
  trafs: readonly TrackFragment[],
  init: InitFacts,
): { traf: TrackFragment; track: TrackFacts } | null {
  const video = init.tracks.find((t) => t.handler === 'vide') ?? init.tracks[0];
  const traf = trafs.find((t) => t.trackId === video?.trackId) ?? trafs[0];
  const track = init.tracks.find((t) => t.trackId === traf?.trackId);
  if (!traf || !track || track.timescale === 0) return null;
  return { traf, track };
}

/** Seconds a fragment lasts, measured on its first video track (audio durations wobble). */
export function getFragmentSeconds(fragment: MovieFragment, init: InitFacts): number {
  const picked = pickTimingTraf(fragment.trafs, init);
  return picked ? picked.traf.duration / picked.track.timescale : 0;
}

/**
 * The decode time (seconds) of the first sample of the first video track (else the first track)
 * in the first moof of `bytes`, which may be only the head of a segment: boxes after that moof
 * need not be complete. Null when no whole moof is there.
 */
export function readFirstMediaTime(bytes: Uint8Array, init: InitFacts): number | null {
  const data = viewOf(bytes);
  let offset = 0;
  while (offset + 8 <= bytes.byteLength) {
    const size = data.getUint32(offset);
    if (size < 8) return null;
    const isMoof = bytes[offset + 4] === 0x6d && bytes[offset + 5] === 0x6f && bytes[offset + 6] === 0x6f;
    if (isMoof && bytes[offset + 7] === 0x66) {
      if (offset + size > bytes.byteLength) return null;
      const moof: Box = { type: 'moof', start: offset, size, payload: offset + 8 };
      const picked = pickTimingTraf(readMoof(bytes, moof, init).trafs, init);
      return picked ? picked.traf.baseMediaDecodeTime / picked.track.timescale : null;
    }
    offset += size;
  }
  return null;
}
