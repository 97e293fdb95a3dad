// The facts of an init segment (ftyp + moov) that the packager and the Worker need per track:
// track id, handler, timescale, the RFC 6381 codec of its sample entry (AAC's object type read from
// the esds, not assumed), the display size, and the trex defaults fragments fall back on.
import {
  type Box,
  BoxFormatError,
  findChild,
  readBoxes,
  readChildren,
  readFourCc,
  requireChild,
  viewOf,
} from './boxes.ts';

export interface TrackFacts {
  trackId: number;
  /** hdlr handler_type: 'vide', 'soun', ... */
  handler: string;
  /** mdhd timescale: units per second of the track's sample times. */
  timescale: number;
  /** RFC 6381 codec string of the first sample entry, e.g. "avc1.64001f" or "mp4a.40.2". */
  codec: string;
  /** Display size (tkhd, else the sample entry's coded size), for video tracks; null for audio. */
  width: number | null;
  height: number | null;
  /** trex defaults from mvex, used when tfhd and trun do not carry a value. */
  defaultSampleDuration: number;
  defaultSampleFlags: number;
}

export interface InitFacts {
  /** mvhd timescale (the movie's, for mvhd/tkhd/mehd durations). */
  movieTimescale: number;
  tracks: TrackFacts[];
}

/** Offset of the field after creation/modification times in a v0 (32-bit) or v1 (64-bit) full box. */
function afterTimes(bytes: Uint8Array, box: Box): number {
  return box.payload + (bytes[box.payload] === 1 ? 20 : 12);
}

/** Reads the tracks of an init segment (ftyp + moov). */
export function readInit(bytes: Uint8Array): InitFacts {
  const moov = readBoxes(bytes).find((b) => b.type === 'moov');
  if (!moov) throw new BoxFormatError('init segment has no moov');
  return readMoov(bytes, moov);
}

/** Reads a moov box of `bytes`. */
export function readMoov(bytes: Uint8Array, moov: Box): InitFacts {
  const data = viewOf(bytes);
  const mvhd = requireChild(bytes, moov, 'mvhd');
  const movieTimescale = data.getUint32(afterTimes(bytes, mvhd));
  const trex = new Map<number, { duration: number; flags: number }>();
  const mvex = findChild(bytes, moov, 'mvex');
  if (mvex) {
    for (const box of readChildren(bytes, mvex).filter((b) => b.type === 'trex')) {
      // trex: version/flags(4) track_ID(4) default_sample_description_index(4)
      // default_sample_duration(4) default_sample_size(4) default_sample_flags(4)
      trex.set(data.getUint32(box.payload + 4), {
        duration: data.getUint32(box.payload + 12),
        flags: data.getUint32(box.payload + 20),
      });
    }
  }
  const tracks = readChildren(bytes, moov)
    .filter((b) => b.type === 'trak')
    .map((trak) => readTrak(bytes, trak, trex));
  return { movieTimescale, tracks };
}

function readTrak(
  bytes: Uint8Array,
  trak: Box,
  trex: Map<number, { duration: number; flags: number }>,
): TrackFacts {
  const data = viewOf(bytes);
  const tkhd = requireChild(bytes, trak, 'tkhd');
  const trackId = data.getUint32(afterTimes(bytes, tkhd));
  // width and height are the last two 16.16 fixed-point fields of tkhd.
  const tkhdEnd = tkhd.start + tkhd.size;
  const width = data.getUint32(tkhdEnd - 8) >>> 16;
  const height = data.getUint32(tkhdEnd - 4) >>> 16;
  const mdia = requireChild(bytes, trak, 'mdia');
  const mdhd = requireChild(bytes, mdia, 'mdhd');
  const timescale = data.getUint32(afterTimes(bytes, mdhd));
  const hdlr = requireChild(bytes, mdia, 'hdlr');
  const handler = readFourCc(bytes, hdlr.payload + 8);
  const minf = requireChild(bytes, mdia, 'minf');
  const stbl = requireChild(bytes, minf, 'stbl');
  const stsd = requireChild(bytes, stbl, 'stsd');
  // stsd is a full box followed by entry_count; the sample entries are boxes after that.
  const entry = readChildren(bytes, stsd, 8)[0];
  if (entry === undefined) throw new BoxFormatError(`track ${trackId} has no sample entry`);
  const defaults = trex.get(trackId);
  // The display size is tkhd's; a writer that leaves it zero still has the coded size in the
  // VisualSampleEntry (6 reserved + 2 index + 16 pre-defined bytes, then width and height).
  const coded =
    handler === 'vide' && entry.size >= 8 + 28
      ? { width: data.getUint16(entry.payload + 24), height: data.getUint16(entry.payload + 26) }
      : { width: 0, height: 0 };
  const shown = width > 0 && height > 0 ? { width, height } : coded;
  const isVideo = handler === 'vide' && shown.width > 0 && shown.height > 0;
  return {
    trackId,
    handler,
    timescale,
    codec: describeSampleEntry(bytes, entry),
    width: isVideo ? shown.width : null,
    height: isVideo ? shown.height : null,
    defaultSampleDuration: defaults?.duration ?? 0,
    defaultSampleFlags: defaults?.flags ?? 0,
  };
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

/** RFC 6381 codec string for a sample entry ("avc1.PPCCLL", "mp4a.40.AOT", else its fourcc). */
export function describeSampleEntry(bytes: Uint8Array, entry: Box): string {
  const data = viewOf(bytes);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    // VisualSampleEntry fields take 78 bytes before its child boxes.
    const avcC = findChild(bytes, entry, 'avcC', 78);
    if (avcC === undefined) return entry.type;
    // "avc1.PPCCLL": AVCProfileIndication, profile_compatibility, AVCLevelIndication (RFC 6381 3.3).
    const p = avcC.payload;
    return `${entry.type}.${hex2(bytes[p + 1] ?? 0)}${hex2(bytes[p + 2] ?? 0)}${hex2(bytes[p + 3] ?? 0)}`;
  }
  if (entry.type === 'mp4a') {
    // AudioSampleEntry: 28 bytes for version 0; QuickTime sound descriptions v1/v2 add 16/36.
    const soundVersion = data.getUint16(entry.payload + 8);
    const skip = 28 + (soundVersion === 1 ? 16 : soundVersion === 2 ? 36 : 0);
    const esds = findChild(bytes, entry, 'esds', skip);
    if (esds === undefined) return 'mp4a';
    const aot = readAudioObjectType(bytes.subarray(esds.payload + 4, esds.start + esds.size));
    return aot === null ? 'mp4a' : `mp4a.40.${aot}`;
  }
  return entry.type;
}

interface Descriptor {
  tag: number;
  body: Uint8Array;
}

function readDescriptor(bytes: Uint8Array, offset: number): Descriptor | null {
  if (offset + 2 > bytes.byteLength) return null;
  const tag = bytes[offset] ?? 0;
  let size = 0;
  let cursor = offset + 1;
  // expandable size: up to four bytes of 7 bits, high bit means "more follows" (ISO/IEC 14496-1 8.3.3)
  for (let i = 0; i < 4 && cursor < bytes.byteLength; i += 1) {
    const byte = bytes[cursor] ?? 0;
    cursor += 1;
    size = (size << 7) | (byte & 0x7f);
    if ((byte & 0x80) === 0) break;
  }
  const end = Math.min(bytes.byteLength, cursor + size);
  return { tag, body: bytes.subarray(cursor, end) };
}

/** The AAC audio object type from an ES_Descriptor (esds payload after version/flags). */
function readAudioObjectType(esDescriptorBytes: Uint8Array): number | null {
  const es = readDescriptor(esDescriptorBytes, 0);
  if (es === null || es.tag !== 0x03 || es.body.byteLength < 3) return null;
  const flags = es.body[2] ?? 0;
  let offset = 3;
  if (flags & 0x80) offset += 2; // streamDependenceFlag -> dependsOn_ES_ID
  if (flags & 0x40) offset += 1 + (es.body[offset] ?? 0); // URL_Flag -> URLlength + URLstring
  if (flags & 0x20) offset += 2; // OCRstreamFlag -> OCR_ES_Id
  const decoderConfig = readDescriptor(es.body, offset);
  if (decoderConfig === null || decoderConfig.tag !== 0x04) return null;
  // objectTypeIndication 0x40 = MPEG-4 Audio; the DecoderSpecificInfo follows 13 bytes of fields.
  if (decoderConfig.body[0] !== 0x40) return null;
  const specific = readDescriptor(decoderConfig.body, 13);
  if (specific === null || specific.tag !== 0x05 || specific.body.byteLength < 1) return null;
  // AudioSpecificConfig: audioObjectType is 5 bits; 31 escapes to 32 + the next 6 bits.
  const first = (specific.body[0] ?? 0) >> 3;
  if (first !== 31) return first;
  if (specific.body.byteLength < 2) return null;
  return 32 + ((((specific.body[0] ?? 0) & 0x07) << 3) | ((specific.body[1] ?? 0) >> 5));
}
