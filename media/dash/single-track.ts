// One track out of a muxed CMAF rendition, for DASH. The transcoder's video renditions carry video
// and audio in every fragment (docs/architecture.md, "Muxed audio+video renditions"), which HLS
// players take as one stream; DASH players do not: "each Representation shall contain only one
// media component" (DASH-IF IOP v4.3, 3.2.1, and the CMAF track constraint of ISO/IEC 23000-19
// 7.3.2: "a CMAF track shall contain one ... track"). dash.js appends each AdaptationSet to a
// SourceBuffer of its own type, so a muxed segment in the video buffer plus the audio
// AdaptationSet's segments stall playback. The Worker derives the single-track init and segments
// at the edge from the stored bytes (no second copy in R2): the init keeps the one trak and its
// trex, each fragment keeps the one traf and a new mdat of that track's samples only, with the
// trun data offsets moved to it. Pure: no I/O.
import {
  type Box,
  BoxFormatError,
  concatBytes,
  copyBox,
  readBoxes,
  readChildren,
  readFourCc,
  requireChild,
  viewOf,
  writeBox,
} from '../mp4/boxes.ts';

/** tfhd flags (ISO/IEC 14496-12 8.8.7.1). */
const TFHD_BASE_DATA_OFFSET = 0x00_0001;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x00_0002;
const TFHD_DEFAULT_DURATION = 0x00_0008;
const TFHD_DEFAULT_SIZE = 0x00_0010;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x02_0000;
/** trun flags (8.8.8.1). */
const TRUN_DATA_OFFSET = 0x001;
const TRUN_FIRST_SAMPLE_FLAGS = 0x004;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTO = 0x800;

function readTrackId(bytes: Uint8Array, tkhd: Box): number {
  // tkhd: version/flags, creation and modification times (4 or 8 bytes each), then track_ID.
  return viewOf(bytes).getUint32(tkhd.payload + (bytes[tkhd.payload] === 1 ? 20 : 12));
}

/**
 * The init segment of one track: ftyp as it was, moov with mvhd, that track's trak and, in mvex,
 * its trex only (mehd kept). Throws BoxFormatError when the init has no such track.
 */
export function extractTrackInit(bytes: Uint8Array, trackId: number): Uint8Array {
  const out: Uint8Array[] = [];
  let found = false;
  for (const top of readBoxes(bytes)) {
    if (top.type !== 'moov') {
      out.push(copyBox(bytes, top));
      continue;
    }
    const children: Uint8Array[] = [];
    for (const child of readChildren(bytes, top)) {
      if (child.type === 'trak') {
        if (readTrackId(bytes, requireChild(bytes, child, 'tkhd')) !== trackId) continue;
        found = true;
        children.push(copyBox(bytes, child));
      } else if (child.type === 'mvex') {
        const kept = readChildren(bytes, child).filter(
          // trex: version/flags, then track_ID.
          (b) => b.type !== 'trex' || viewOf(bytes).getUint32(b.payload + 4) === trackId,
        );
        children.push(
          writeBox(
            'mvex',
            kept.map((b) => copyBox(bytes, b)),
          ),
        );
      } else {
        children.push(copyBox(bytes, child));
      }
    }
    out.push(writeBox('moov', children));
  }
  if (!found) throw new BoxFormatError(`init has no track ${trackId}`);
  return concatBytes(out);
}

interface Run {
  /** Offset of the trun's data_offset field inside the trun box bytes. */
  dataOffsetAt: number;
  /** Absolute offset (in the segment bytes) and length of the run's samples. */
  from: number;
  length: number;
}

/** Each trun of a traf with where its samples lie; `base` is the traf's base data offset. */
function readRuns(bytes: Uint8Array, traf: Box, base: number, defaultSize: number | null): Run[] {
  const data = viewOf(bytes);
  const runs: Run[] = [];
  for (const trun of readChildren(bytes, traf).filter((b) => b.type === 'trun')) {
    const flags = data.getUint32(trun.payload) & 0xff_ffff;
    const count = data.getUint32(trun.payload + 4);
    // "If the data-offset is not present, then the data for this run starts immediately after the
    // data of the previous run" (8.8.8.3): CMAF writers always state it; refuse to guess.
    if (!(flags & TRUN_DATA_OFFSET)) throw new BoxFormatError(`trun at ${trun.start} has no data_offset`);
    const dataOffset = data.getInt32(trun.payload + 8);
    let field = trun.payload + 12 + (flags & TRUN_FIRST_SAMPLE_FLAGS ? 4 : 0);
    const hasSize = (flags & TRUN_SIZE) !== 0;
    if (!hasSize && defaultSize === null)
      throw new BoxFormatError(`trun at ${trun.start} has no sample sizes and tfhd no default`);
    const stride =
      4 * [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].filter((bit) => (flags & bit) !== 0).length;
    if (field + stride * count > trun.start + trun.size)
      throw new BoxFormatError(`trun of ${count} samples overruns its box at ${trun.start}`);
    let length = 0;
    const sizeAt = flags & TRUN_DURATION ? 4 : 0;
    for (let i = 0; i < count; i += 1, field += stride) {
      length += hasSize ? data.getUint32(field + sizeAt) : (defaultSize ?? 0);
    }
    const from = base + dataOffset;
    if (from < 0 || from + length > bytes.byteLength)
      throw new BoxFormatError(`trun at ${trun.start} points outside the segment`);
    runs.push({ dataOffsetAt: trun.payload + 8 - trun.start, from, length });
  }
  return runs;
}

/** The traf of `trackId` in a moof with its tfhd facts, or null when the moof has none. */
function findTraf(
  bytes: Uint8Array,
  moof: Box,
  trackId: number,
): { traf: Box; first: boolean; flags: number; defaultSize: number | null } | null {
  const data = viewOf(bytes);
  const trafs = readChildren(bytes, moof).filter((b) => b.type === 'traf');
  for (const [index, traf] of trafs.entries()) {
    const tfhd = requireChild(bytes, traf, 'tfhd');
    if (data.getUint32(tfhd.payload + 4) !== trackId) continue;
    const flags = data.getUint32(tfhd.payload) & 0xff_ffff;
    let field = tfhd.payload + 8;
    if (flags & TFHD_BASE_DATA_OFFSET) field += 8;
    if (flags & TFHD_SAMPLE_DESCRIPTION_INDEX) field += 4;
    if (flags & TFHD_DEFAULT_DURATION) field += 4;
    const defaultSize = flags & TFHD_DEFAULT_SIZE ? data.getUint32(field) : null;
    return { traf, first: index === 0, flags, defaultSize };
  }
  return null;
}

/** One moof + mdat of the track, or null when the fragment has no samples of it. */
function extractFragment(bytes: Uint8Array, moof: Box, trackId: number): Uint8Array | null {
  const found = findTraf(bytes, moof, trackId);
  if (!found) return null;
  const { traf, first, flags, defaultSize } = found;
  // The data offsets are relative to the moof when default-base-is-moof is set, and for the first
  // traf of a moof without a base_data_offset (8.8.7.1); an absolute base_data_offset means
  // nothing once the fragment is cut out of its file.
  if (flags & TFHD_BASE_DATA_OFFSET) throw new BoxFormatError('tfhd base_data_offset is not supported');
  if (!(flags & TFHD_DEFAULT_BASE_IS_MOOF) && !first)
    throw new BoxFormatError('traf data offsets depend on another track');
  const runs = readRuns(bytes, traf, moof.start, defaultSize);
  const trunCopies = new Map<number, Uint8Array>();
  const trafChildren = readChildren(bytes, traf).map((child) => {
    const copy = copyBox(bytes, child);
    if (child.type === 'trun') trunCopies.set(trunCopies.size, copy);
    return copy;
  });
  const moofChildren = readChildren(bytes, moof)
    .filter((b) => b.type !== 'traf')
    .map((b) => copyBox(bytes, b));
  // The new moof's size does not depend on the offsets written into it.
  const sizeOf = (parts: readonly Uint8Array[]) => 8 + parts.reduce((sum, b) => sum + b.byteLength, 0);
  const newMoofSize = sizeOf([...moofChildren, new Uint8Array(sizeOf(trafChildren))]);
  // The samples follow the new moof in one mdat, run after run: each data_offset points there.
  let offset = newMoofSize + 8;
  runs.forEach((run, index) => {
    const trun = trunCopies.get(index);
    if (trun) viewOf(trun).setInt32(run.dataOffsetAt, offset);
    offset += run.length;
  });
  const moofOut = writeBox('moof', [...moofChildren, writeBox('traf', trafChildren)]);
  const mdat = writeBox(
    'mdat',
    runs.map((run) => bytes.subarray(run.from, run.from + run.length)),
  );
  return concatBytes([moofOut, mdat]);
}

/**
 * A CMAF segment (styp? then moof + mdat pairs) cut down to one track: styp kept, sidx and other
 * boxes that describe every track dropped, fragments without samples of the track left out.
 * Throws BoxFormatError when no fragment has the track, or a fragment's samples cannot be located.
 */
export function extractTrackSegment(bytes: Uint8Array, trackId: number): Uint8Array {
  const out: Uint8Array[] = [];
  for (const box of readBoxes(bytes)) {
    if (box.type === 'styp' && out.length === 0) out.push(copyBox(bytes, box));
    if (box.type !== 'moof') continue;
    const fragment = extractFragment(bytes, box, trackId);
    if (fragment) out.push(fragment);
  }
  if (!out.some((part) => readFourCc(part, 4) === 'moof'))
    throw new BoxFormatError(`segment has no fragment of track ${trackId}`);
  return concatBytes(out);
}

export interface AudioFormat {
  sampleRate: number;
  channels: number;
}

/**
 * channelcount and samplerate of the AudioSampleEntry of `trackId` (14496-12 12.2.3: 8 bytes of
 * SampleEntry, 8 reserved, then channelcount(16), samplesize(16), 4 bytes, samplerate 16.16), for
 * the MPD's audioSamplingRate and AudioChannelConfiguration. Null for any other track.
 */
export function readAudioFormat(bytes: Uint8Array, trackId: number): AudioFormat | null {
  const data = viewOf(bytes);
  const moov = readBoxes(bytes).find((b) => b.type === 'moov');
  if (!moov) return null;
  for (const trak of readChildren(bytes, moov).filter((b) => b.type === 'trak')) {
    if (readTrackId(bytes, requireChild(bytes, trak, 'tkhd')) !== trackId) continue;
    const mdia = requireChild(bytes, trak, 'mdia');
    const hdlr = requireChild(bytes, mdia, 'hdlr');
    if (readFourCc(bytes, hdlr.payload + 8) !== 'soun') return null;
    const stbl = requireChild(bytes, requireChild(bytes, mdia, 'minf'), 'stbl');
    // stsd is a full box followed by entry_count; the sample entries are boxes after that.
    const entry = readChildren(bytes, requireChild(bytes, stbl, 'stsd'), 8)[0];
    if (!entry || entry.size < 8 + 20) return null;
    return {
      channels: data.getUint16(entry.payload + 16),
      sampleRate: data.getUint32(entry.payload + 24) >>> 16,
    };
  }
  return null;
}
