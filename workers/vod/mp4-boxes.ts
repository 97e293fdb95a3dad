// Just enough ISO-BMFF (ISO/IEC 14496-12) to cut a clip out of CMAF segments in the Worker: read
// the init segment's tracks, walk moof+mdat fragments, and rewrite the few fields a clip changes.
// Pure byte work, no I/O.

export interface Box {
  type: string;
  /** Offset of the box's first byte (its size field). */
  start: number;
  /** Whole box, header included. */
  size: number;
  /** Offset of the payload (after size, type and any largesize). */
  payload: number;
}

export interface TrackFacts {
  trackId: number;
  /** mdhd timescale: units per second of the track's sample times. */
  timescale: number;
  handler: string;
  /** trex default_sample_duration, used when neither trun nor tfhd carries one. */
  defaultSampleDuration: number;
  /** RFC 6381 codec of the sample entry ("avc1.64001f", "mp4a.40.2"), null when unknown. */
  codec: string | null;
  width: number | null;
  height: number | null;
}

export interface InitFacts {
  movieTimescale: number;
  tracks: TrackFacts[];
}

export interface TrafFacts {
  trackId: number;
  /** Offset of the tfdt box, or null without one. */
  tfdt: number | null;
  baseDecodeTime: number;
  /** Sum of the fragment's sample durations, in the track timescale. */
  duration: number;
}

export interface Fragment {
  /** The moof and every box up to the next moof (its mdat). */
  start: number;
  end: number;
  /** Offset of the mfhd box. */
  mfhd: number | null;
  trafs: TrafFacts[];
}

const decoder = new TextDecoder('latin1');

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readUint64(data: DataView, offset: number): number {
  // Media times of a 60-second clip, or of a 2-hour stream, stay far below 2^53.
  return data.getUint32(offset) * 2 ** 32 + data.getUint32(offset + 4);
}

function writeUint64(data: DataView, offset: number, value: number): void {
  data.setUint32(offset, Math.floor(value / 2 ** 32));
  data.setUint32(offset + 4, value % 2 ** 32);
}

/** The boxes between `from` and `to`; throws on a box that overruns its parent. */
export function readBoxes(bytes: Uint8Array, from = 0, to = bytes.byteLength): Box[] {
  const data = view(bytes);
  const boxes: Box[] = [];
  let offset = from;
  while (offset + 8 <= to) {
    let size = data.getUint32(offset);
    const type = decoder.decode(bytes.subarray(offset + 4, offset + 8));
    let payload = offset + 8;
    if (size === 1) {
      size = readUint64(data, offset + 8);
      payload += 8;
    } else if (size === 0) {
      size = to - offset;
    }
    if (size < payload - offset || offset + size > to) throw new Error(`box ${type} overruns at ${offset}`);
    boxes.push({ type, start: offset, size, payload });
    offset += size;
  }
  return boxes;
}

function findChild(bytes: Uint8Array, parent: Box, type: string, skip = 0): Box | undefined {
  return readBoxes(bytes, parent.payload + skip, parent.start + parent.size).find((b) => b.type === type);
}

function childrenOf(bytes: Uint8Array, parent: Box, skip = 0): Box[] {
  return readBoxes(bytes, parent.payload + skip, parent.start + parent.size);
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/** The RFC 6381 codec string of the first sample entry of an stsd. */
function readCodec(
  bytes: Uint8Array,
  stsd: Box,
): { codec: string | null; width: number | null; height: number | null } {
  // stsd is a full box (4 bytes) with an entry count (4 bytes) before its entries.
  const entry = readBoxes(bytes, stsd.payload + 8, stsd.start + stsd.size)[0];
  if (!entry) return { codec: null, width: null, height: null };
  const data = view(bytes);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    // VisualSampleEntry: 6 reserved + 2 index + 16 pre-defined, then width and height, 78 bytes in all.
    const width = data.getUint16(entry.payload + 24);
    const height = data.getUint16(entry.payload + 26);
    const avcC = readBoxes(bytes, entry.payload + 78, entry.start + entry.size).find(
      (b) => b.type === 'avcC',
    );
    if (!avcC) return { codec: entry.type, width, height };
    // "avc1.PPCCLL": AVCProfileIndication, profile_compatibility, AVCLevelIndication (RFC 6381 3.3).
    const p = avcC.payload;
    return {
      codec: `${entry.type}.${hex2(bytes[p + 1] ?? 0)}${hex2(bytes[p + 2] ?? 0)}${hex2(bytes[p + 3] ?? 0)}`,
      width,
      height,
    };
  }
  if (entry.type === 'mp4a') return { codec: 'mp4a.40.2', width: null, height: null };
  return { codec: entry.type, width: null, height: null };
}

/** Reads the tracks of an init segment (ftyp + moov). */
export function readInit(bytes: Uint8Array): InitFacts {
  const data = view(bytes);
  const moov = readBoxes(bytes).find((b) => b.type === 'moov');
  if (!moov) throw new Error('init segment has no moov');
  const mvhd = findChild(bytes, moov, 'mvhd');
  if (!mvhd) throw new Error('moov has no mvhd');
  const movieTimescale = data.getUint32(mvhd.payload + (bytes[mvhd.payload] === 1 ? 20 : 12));
  const defaults = new Map<number, number>();
  const mvex = findChild(bytes, moov, 'mvex');
  if (mvex) {
    for (const trex of childrenOf(bytes, mvex).filter((b) => b.type === 'trex')) {
      defaults.set(data.getUint32(trex.payload + 4), data.getUint32(trex.payload + 12));
    }
  }
  const tracks: TrackFacts[] = [];
  for (const trak of childrenOf(bytes, moov).filter((b) => b.type === 'trak')) {
    const tkhd = findChild(bytes, trak, 'tkhd');
    const mdia = findChild(bytes, trak, 'mdia');
    if (!tkhd || !mdia) continue;
    const trackId = data.getUint32(tkhd.payload + (bytes[tkhd.payload] === 1 ? 20 : 12));
    const mdhd = findChild(bytes, mdia, 'mdhd');
    const hdlr = findChild(bytes, mdia, 'hdlr');
    if (!mdhd || !hdlr) continue;
    const timescale = data.getUint32(mdhd.payload + (bytes[mdhd.payload] === 1 ? 20 : 12));
    const handler = decoder.decode(bytes.subarray(hdlr.payload + 8, hdlr.payload + 12));
    const minf = findChild(bytes, mdia, 'minf');
    const stbl = minf && findChild(bytes, minf, 'stbl');
    const stsd = stbl && findChild(bytes, stbl, 'stsd');
    const sample = stsd ? readCodec(bytes, stsd) : { codec: null, width: null, height: null };
    tracks.push({
      trackId,
      timescale,
      handler,
      defaultSampleDuration: defaults.get(trackId) ?? 0,
      ...sample,
    });
  }
  return { movieTimescale, tracks };
}

function readTraf(bytes: Uint8Array, traf: Box, init: InitFacts): TrafFacts {
  const data = view(bytes);
  let trackId = 0;
  let defaultDuration = 0;
  let tfdt: number | null = null;
  let baseDecodeTime = 0;
  let duration = 0;
  for (const child of childrenOf(bytes, traf)) {
    const flags = data.getUint32(child.payload) & 0xffffff;
    const version = bytes[child.payload] ?? 0;
    if (child.type === 'tfhd') {
      trackId = data.getUint32(child.payload + 4);
      defaultDuration = init.tracks.find((t) => t.trackId === trackId)?.defaultSampleDuration ?? 0;
      // tfhd optional fields in order: base_data_offset (0x1, 8 bytes), sample_description_index
      // (0x2), default_sample_duration (0x8).
      let field = child.payload + 8;
      if (flags & 0x1) field += 8;
      if (flags & 0x2) field += 4;
      if (flags & 0x8) defaultDuration = data.getUint32(field);
    } else if (child.type === 'tfdt') {
      tfdt = child.start;
      baseDecodeTime =
        version === 1 ? readUint64(data, child.payload + 4) : data.getUint32(child.payload + 4);
    } else if (child.type === 'trun') {
      const count = data.getUint32(child.payload + 4);
      let field = child.payload + 8;
      if (flags & 0x1) field += 4; // data_offset
      if (flags & 0x4) field += 4; // first_sample_flags
      // Per-sample records: duration, size, flags, composition offset, each when its flag is set.
      const stride = 4 * [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length;
      // A sample_count the box cannot hold is a corrupt (or hostile) fragment: refuse it rather
      // than read the next box's bytes as sample durations.
      if (field + count * stride > child.start + child.size)
        throw new Error(`trun of ${count} samples overruns its box at ${child.start}`);
      if (flags & 0x100) {
        for (let i = 0; i < count; i++) duration += data.getUint32(field + i * stride);
      } else {
        duration += count * defaultDuration;
      }
    }
  }
  return { trackId, tfdt, baseDecodeTime, duration };
}

/** The fragments (moof and the boxes after it) of a CMAF segment or part, in order. */
export function readFragments(bytes: Uint8Array, init: InitFacts): Fragment[] {
  const fragments: Fragment[] = [];
  for (const box of readBoxes(bytes)) {
    if (box.type === 'moof') {
      const children = childrenOf(bytes, box);
      fragments.push({
        start: box.start,
        end: box.start + box.size,
        mfhd: children.find((b) => b.type === 'mfhd')?.start ?? null,
        trafs: children.filter((b) => b.type === 'traf').map((traf) => readTraf(bytes, traf, init)),
      });
    } else {
      const last = fragments.at(-1);
      // mdat (and anything else after a moof) belongs to that fragment; styp/sidx before any are dropped.
      if (last) last.end = box.start + box.size;
    }
  }
  return fragments;
}

/** Seconds a fragment lasts, measured on its first video track (audio durations wobble). */
export function getFragmentSeconds(fragment: Fragment, init: InitFacts): number {
  const video = init.tracks.find((t) => t.handler === 'vide') ?? init.tracks[0];
  const traf = fragment.trafs.find((t) => t.trackId === video?.trackId) ?? fragment.trafs[0];
  const track = init.tracks.find((t) => t.trackId === traf?.trackId);
  if (!traf || !track || track.timescale === 0) return 0;
  return traf.duration / track.timescale;
}

/** A box of `type` around `parts`, its size computed. */
function writeBox(type: string, parts: Uint8Array[]): Uint8Array {
  const size = 8 + parts.reduce((sum, p) => sum + p.byteLength, 0);
  const out = new Uint8Array(size);
  const data = view(out);
  data.setUint32(0, size);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  let offset = 8;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Copies a full box and sets its duration field, which sits `v0`/`v1` bytes into the payload. */
function patchDuration(bytes: Uint8Array, box: Box, v0: number, v1: number, value: number): Uint8Array {
  const copy = bytes.slice(box.start, box.start + box.size);
  const data = view(copy);
  const payload = box.payload - box.start;
  if (copy[payload] === 1) writeUint64(data, payload + v1, value);
  else data.setUint32(payload + v0, Math.min(value, 0xffffffff));
  return copy;
}

export interface ClipDurations {
  /** Whole clip, in the movie timescale. */
  movie: number;
  /** Per track id, in that track's timescale. */
  tracks: Map<number, number>;
}

/**
 * A copy of the init segment that states the clip's duration: mvhd, every tkhd and mdhd, and an
 * mvex/mehd. "The Movie Extends Header is optional, and provides the overall duration, including
 * fragments, of a fragmented movie" (14496-12 8.8.2): players read it instead of scanning fragments.
 */
export function rewriteInit(bytes: Uint8Array, durations: ClipDurations): Uint8Array {
  const out: Uint8Array[] = [];
  const data = view(bytes);
  for (const top of readBoxes(bytes)) {
    if (top.type !== 'moov') {
      out.push(bytes.slice(top.start, top.start + top.size));
      continue;
    }
    const moovChildren: Uint8Array[] = [];
    for (const child of childrenOf(bytes, top)) {
      if (child.type === 'mvhd') {
        // mvhd: version/flags, creation, modification, timescale, then duration.
        moovChildren.push(patchDuration(bytes, child, 16, 24, durations.movie));
      } else if (child.type === 'trak') {
        moovChildren.push(rewriteTrak(bytes, child, durations, data));
      } else if (child.type === 'mvex') {
        const kept = childrenOf(bytes, child)
          .filter((b) => b.type !== 'mehd')
          .map((b) => bytes.slice(b.start, b.start + b.size));
        const mehd = new Uint8Array(12);
        mehd[0] = 1; // version 1: a 64-bit fragment_duration
        writeUint64(view(mehd), 4, durations.movie);
        moovChildren.push(writeBox('mvex', [writeBox('mehd', [mehd]), ...kept]));
      } else {
        moovChildren.push(bytes.slice(child.start, child.start + child.size));
      }
    }
    out.push(writeBox('moov', moovChildren));
  }
  return concatBytes(out);
}

function rewriteTrak(bytes: Uint8Array, trak: Box, durations: ClipDurations, data: DataView): Uint8Array {
  const tkhd = findChild(bytes, trak, 'tkhd');
  const trackId = tkhd ? data.getUint32(tkhd.payload + (bytes[tkhd.payload] === 1 ? 20 : 12)) : 0;
  const children: Uint8Array[] = [];
  for (const child of childrenOf(bytes, trak)) {
    if (child.type === 'tkhd') {
      // tkhd: version/flags (4), creation, modification (4 or 8 each), track_ID (4), reserved (4),
      // then duration (movie timescale): at 4+4+4+4+4 = 20 in version 0, 4+8+8+4+4 = 28 in version 1.
      children.push(patchDuration(bytes, child, 20, 28, durations.movie));
    } else if (child.type === 'mdia') {
      const mdiaChildren = childrenOf(bytes, child).map((b) =>
        b.type === 'mdhd'
          ? patchDuration(bytes, b, 16, 24, durations.tracks.get(trackId) ?? 0)
          : bytes.slice(b.start, b.start + b.size),
      );
      children.push(writeBox('mdia', mdiaChildren));
    } else {
      children.push(bytes.slice(child.start, child.start + child.size));
    }
  }
  return writeBox('trak', children);
}

/** Copies a fragment with its tfdt times moved by `shift` (per track) and its mfhd sequence set. */
export function rewriteFragment(
  bytes: Uint8Array,
  fragment: Fragment,
  sequence: number,
  shift: Map<number, number>,
): Uint8Array {
  const copy = bytes.slice(fragment.start, fragment.end);
  const data = view(copy);
  // mfhd: size, type, version/flags, then sequence_number. "The sequence number ... in
  // increasing order" (8.8.5): a clip numbers its fragments from 1.
  if (fragment.mfhd !== null) data.setUint32(fragment.mfhd - fragment.start + 12, sequence);
  for (const traf of fragment.trafs) {
    if (traf.tfdt === null) continue;
    const at = traf.tfdt - fragment.start;
    const time = Math.max(0, traf.baseDecodeTime - (shift.get(traf.trackId) ?? 0));
    if (copy[at + 8] === 1) writeUint64(data, at + 12, time);
    else data.setUint32(at + 12, time);
  }
  return copy;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * The decode time (seconds) of the first sample of the first video track (else the first track)
 * in the first moof of `bytes`, which may be only the head of a segment: boxes after that moof
 * need not be complete. Null when no whole moof is there.
 */
export function readFirstMediaTime(bytes: Uint8Array, init: InitFacts): number | null {
  const data = view(bytes);
  let offset = 0;
  while (offset + 8 <= bytes.byteLength) {
    const size = data.getUint32(offset);
    const type = decoder.decode(bytes.subarray(offset + 4, offset + 8));
    if (size < 8) return null;
    if (type === 'moof') {
      if (offset + size > bytes.byteLength) return null;
      const moof: Box = { type, start: offset, size, payload: offset + 8 };
      const trafs = childrenOf(bytes, moof)
        .filter((b) => b.type === 'traf')
        .map((traf) => readTraf(bytes, traf, init));
      const video = init.tracks.find((t) => t.handler === 'vide') ?? init.tracks[0];
      const traf = trafs.find((t) => t.trackId === video?.trackId) ?? trafs[0];
      const track = init.tracks.find((t) => t.trackId === traf?.trackId);
      if (!traf || !track || track.timescale === 0) return null;
      return traf.baseDecodeTime / track.timescale;
    }
    offset += size;
  }
  return null;
}
