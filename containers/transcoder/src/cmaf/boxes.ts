// ISO-BMFF (ISO/IEC 14496-12) box reading for the CMAF packager: an incremental reader that cuts
// top-level boxes out of a pipe however the bytes are chunked, and parsers for the few boxes the
// packager needs (track timescales, codecs, fragment timing and sync flags). Pure: no I/O.

/** A box larger than this is treated as corrupt input: a 200 ms part is a few hundred KiB at most. */
export const DEFAULT_MAX_BOX_SIZE = 32 * 1024 * 1024;

/** sample_depends_on / sample_is_non_sync_sample: a sample is a sync sample when this bit is clear. */
export const SAMPLE_IS_NON_SYNC_FLAG = 0x0001_0000;

export class BoxFormatError extends Error {
  override readonly name = 'BoxFormatError';
}

export interface Box {
  type: string;
  /** The whole box, header included. */
  bytes: Buffer;
  /** Offset of the payload inside `bytes` (8, or 16 for a 64-bit size). */
  headerSize: number;
}

/** Cuts complete top-level boxes out of a byte stream fed in arbitrary chunks. */
export class BoxReader {
  readonly #maxBoxSize: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(options: { maxBoxSize?: number } = {}) {
    this.#maxBoxSize = options.maxBoxSize ?? DEFAULT_MAX_BOX_SIZE;
  }

  /** Bytes received but not yet part of a complete box. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Adds bytes and returns every box they complete, in stream order. */
  push(chunk: Buffer): Box[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const boxes: Box[] = [];
    for (;;) {
      const header = this.#peekHeader();
      if (header === null || this.#buffered < header.size) return boxes;
      const bytes = this.#take(header.size);
      boxes.push({ type: header.type, bytes, headerSize: header.headerSize });
    }
  }

  #peekHeader(): { size: number; type: string; headerSize: number } | null {
    if (this.#buffered < 8) return null;
    const head = this.#peek(Math.min(16, this.#buffered));
    const size32 = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    let size = size32;
    let headerSize = 8;
    if (size32 === 1) {
      if (head.length < 16) return null;
      const size64 = head.readBigUInt64BE(8);
      if (size64 > BigInt(this.#maxBoxSize)) throw new BoxFormatError(`box ${type} too large: ${size64}`);
      size = Number(size64);
      headerSize = 16;
    } else if (size32 === 0) {
      // "size is 0, then this box is the last one in the file": unbounded, so unusable on a live pipe.
      throw new BoxFormatError(`box ${type} extends to end of stream, which a live pipe cannot have`);
    }
    if (size < headerSize) throw new BoxFormatError(`box ${type} has an impossible size ${size}`);
    if (size > this.#maxBoxSize) throw new BoxFormatError(`box ${type} too large: ${size} bytes`);
    return { size, type, headerSize };
  }

  #peek(length: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= length) return first.subarray(0, length);
    return Buffer.concat(this.#chunks).subarray(0, length);
  }

  #take(length: number): Buffer {
    const all =
      this.#chunks.length === 1 ? (this.#chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.#chunks);
    const taken = Buffer.from(all.subarray(0, length));
    const rest = all.subarray(length);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return taken;
  }
}

/** The child boxes inside `payload` (a box's bytes after its header and any full-box fields). */
export function readChildBoxes(payload: Buffer): Box[] {
  const boxes: Box[] = [];
  let offset = 0;
  while (offset + 8 <= payload.length) {
    let size = payload.readUInt32BE(offset);
    const type = payload.toString('latin1', offset + 4, offset + 8);
    let headerSize = 8;
    if (size === 1) {
      if (offset + 16 > payload.length) throw new BoxFormatError(`truncated 64-bit size in ${type}`);
      size = Number(payload.readBigUInt64BE(offset + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = payload.length - offset;
    }
    if (size < headerSize || offset + size > payload.length) {
      throw new BoxFormatError(`child box ${type} overruns its parent`);
    }
    boxes.push({ type, bytes: payload.subarray(offset, offset + size), headerSize });
    offset += size;
  }
  return boxes;
}

function payloadOf(box: Box): Buffer {
  return box.bytes.subarray(box.headerSize);
}

function findChild(parent: Buffer, type: string): Box | undefined {
  return readChildBoxes(parent).find((box) => box.type === type);
}

function requireChild(parent: Buffer, type: string, where: string): Box {
  const box = findChild(parent, type);
  if (box === undefined) throw new BoxFormatError(`${where} has no ${type}`);
  return box;
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}

export interface TrackInfo {
  trackId: number;
  /** hdlr handler_type: 'vide', 'soun', ... */
  handler: string;
  timescale: number;
  width?: number;
  height?: number;
  /** RFC 6381 codec string of the first sample entry, e.g. "avc1.64001f" or "mp4a.40.2". */
  codec: string;
  /** trex defaults from mvex, used when tfhd and trun do not carry a value. */
  defaultSampleDuration: number;
  defaultSampleFlags: number;
}

export interface InitInfo {
  tracks: TrackInfo[];
}

/** Parses a moov box into what the packager needs per track. */
export function parseMoov(moov: Box): InitInfo {
  const payload = payloadOf(moov);
  const children = readChildBoxes(payload);
  const trexByTrack = new Map<number, { duration: number; flags: number }>();
  const mvex = children.find((box) => box.type === 'mvex');
  if (mvex !== undefined) {
    for (const trex of readChildBoxes(payloadOf(mvex)).filter((box) => box.type === 'trex')) {
      const body = payloadOf(trex);
      // trex: version/flags(4) track_ID(4) default_sample_description_index(4)
      // default_sample_duration(4) default_sample_size(4) default_sample_flags(4)
      trexByTrack.set(body.readUInt32BE(4), {
        duration: body.readUInt32BE(12),
        flags: body.readUInt32BE(20),
      });
    }
  }
  const tracks = children
    .filter((box) => box.type === 'trak')
    .map((trak) => parseTrak(payloadOf(trak), trexByTrack));
  return { tracks };
}

function parseTrak(trak: Buffer, trexByTrack: Map<number, { duration: number; flags: number }>): TrackInfo {
  const tkhd = payloadOf(requireChild(trak, 'tkhd', 'trak'));
  const tkhdVersion = tkhd.readUInt8(0);
  const trackId = tkhd.readUInt32BE(tkhdVersion === 1 ? 20 : 12);
  // width and height are the last two 16.16 fixed-point fields of tkhd.
  const width = tkhd.readUInt32BE(tkhd.length - 8) >>> 16;
  const height = tkhd.readUInt32BE(tkhd.length - 4) >>> 16;

  const mdia = payloadOf(requireChild(trak, 'mdia', 'trak'));
  const mdhd = payloadOf(requireChild(mdia, 'mdhd', 'mdia'));
  const timescale = mdhd.readUInt32BE(mdhd.readUInt8(0) === 1 ? 20 : 12);
  const hdlr = payloadOf(requireChild(mdia, 'hdlr', 'mdia'));
  const handler = hdlr.toString('latin1', 8, 12);
  const minf = payloadOf(requireChild(mdia, 'minf', 'mdia'));
  const stbl = payloadOf(requireChild(minf, 'stbl', 'minf'));
  const stsd = payloadOf(requireChild(stbl, 'stsd', 'stbl'));
  // stsd is a full box followed by entry_count; the sample entries are boxes after that.
  const entry = readChildBoxes(stsd.subarray(8))[0];
  if (entry === undefined) throw new BoxFormatError(`track ${trackId} has no sample entry`);

  const trex = trexByTrack.get(trackId);
  const track: TrackInfo = {
    trackId,
    handler,
    timescale,
    codec: describeSampleEntry(entry),
    defaultSampleDuration: trex?.duration ?? 0,
    defaultSampleFlags: trex?.flags ?? 0,
  };
  if (handler === 'vide' && width > 0 && height > 0) {
    track.width = width;
    track.height = height;
  }
  return track;
}

/** RFC 6381 codec string for a sample entry ("avc1.PPCCLL", "mp4a.40.AOT", else its fourcc). */
export function describeSampleEntry(entry: Box): string {
  const body = payloadOf(entry);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    // VisualSampleEntry fields take 78 bytes before its child boxes.
    const avcC = findChild(body.subarray(78), 'avcC');
    if (avcC === undefined) return entry.type;
    const config = payloadOf(avcC);
    // AVCDecoderConfigurationRecord: configurationVersion, AVCProfileIndication,
    // profile_compatibility, AVCLevelIndication.
    return `${entry.type}.${hex2(config.readUInt8(1))}${hex2(config.readUInt8(2))}${hex2(config.readUInt8(3))}`;
  }
  if (entry.type === 'mp4a') {
    // AudioSampleEntry: 28 bytes for version 0; QuickTime sound descriptions v1/v2 add 16/36.
    const soundVersion = body.readUInt16BE(8);
    const skip = 28 + (soundVersion === 1 ? 16 : soundVersion === 2 ? 36 : 0);
    const esds = findChild(body.subarray(skip), 'esds');
    if (esds === undefined) return 'mp4a';
    const aot = readAudioObjectType(payloadOf(esds).subarray(4));
    return aot === null ? 'mp4a' : `mp4a.40.${aot}`;
  }
  return entry.type;
}

interface Descriptor {
  tag: number;
  body: Buffer;
}

function readDescriptor(bytes: Buffer, offset: number): { descriptor: Descriptor; next: number } | null {
  if (offset + 2 > bytes.length) return null;
  const tag = bytes.readUInt8(offset);
  let size = 0;
  let cursor = offset + 1;
  // expandable size: up to four bytes of 7 bits, high bit means "more follows" (ISO/IEC 14496-1 8.3.3)
  for (let i = 0; i < 4 && cursor < bytes.length; i += 1) {
    const byte = bytes.readUInt8(cursor);
    cursor += 1;
    size = (size << 7) | (byte & 0x7f);
    if ((byte & 0x80) === 0) break;
  }
  const end = Math.min(bytes.length, cursor + size);
  return { descriptor: { tag, body: bytes.subarray(cursor, end) }, next: end };
}

/** The AAC audio object type from an ES_Descriptor (esds payload after version/flags). */
function readAudioObjectType(esDescriptorBytes: Buffer): number | null {
  const es = readDescriptor(esDescriptorBytes, 0)?.descriptor;
  if (es === undefined || es.tag !== 0x03) return null;
  const flags = es.body.readUInt8(2);
  let offset = 3;
  if (flags & 0x80) offset += 2; // streamDependenceFlag -> dependsOn_ES_ID
  if (flags & 0x40) offset += 1 + es.body.readUInt8(offset); // URL_Flag -> URLlength + URLstring
  if (flags & 0x20) offset += 2; // OCRstreamFlag -> OCR_ES_Id
  const decoderConfig = readDescriptor(es.body, offset)?.descriptor;
  if (decoderConfig === undefined || decoderConfig.tag !== 0x04) return null;
  // objectTypeIndication 0x40 = MPEG-4 Audio; the DecoderSpecificInfo follows 13 bytes of fields.
  if (decoderConfig.body.readUInt8(0) !== 0x40) return null;
  const specific = readDescriptor(decoderConfig.body, 13)?.descriptor;
  if (specific === undefined || specific.tag !== 0x05 || specific.body.length < 1) return null;
  // AudioSpecificConfig: audioObjectType is 5 bits; 31 escapes to 32 + the next 6 bits.
  const first = specific.body.readUInt8(0) >> 3;
  if (first !== 31) return first;
  if (specific.body.length < 2) return null;
  return 32 + (((specific.body.readUInt8(0) & 0x07) << 3) | (specific.body.readUInt8(1) >> 5));
}

export interface TrackFragment {
  trackId: number;
  baseMediaDecodeTime: number;
  sampleCount: number;
  /** Sum of the sample durations, in the track's timescale. */
  duration: number;
  /** Flags of the first sample, resolved through trun, tfhd and trex defaults. */
  firstSampleFlags: number;
}

export interface MovieFragment {
  sequenceNumber: number;
  trafs: TrackFragment[];
}

/** True when the flags describe a sync sample (a keyframe). */
export function isSyncSample(flags: number): boolean {
  return (flags & SAMPLE_IS_NON_SYNC_FLAG) === 0;
}

/** Parses a moof, resolving defaults against the tracks of the init segment. */
export function parseMoof(moof: Box, init: InitInfo): MovieFragment {
  const children = readChildBoxes(payloadOf(moof));
  const mfhd = children.find((box) => box.type === 'mfhd');
  const sequenceNumber = mfhd === undefined ? 0 : payloadOf(mfhd).readUInt32BE(4);
  const trafs = children.filter((box) => box.type === 'traf').map((traf) => parseTraf(payloadOf(traf), init));
  return { sequenceNumber, trafs };
}

function parseTraf(traf: Buffer, init: InitInfo): TrackFragment {
  const tfhd = payloadOf(requireChild(traf, 'tfhd', 'traf'));
  const tfhdFlags = tfhd.readUInt32BE(0) & 0xff_ffff;
  const trackId = tfhd.readUInt32BE(4);
  const track = init.tracks.find((candidate) => candidate.trackId === trackId);
  let offset = 8;
  if (tfhdFlags & 0x01) offset += 8; // base_data_offset
  if (tfhdFlags & 0x02) offset += 4; // sample_description_index
  let defaultDuration = track?.defaultSampleDuration ?? 0;
  if (tfhdFlags & 0x08) {
    defaultDuration = tfhd.readUInt32BE(offset);
    offset += 4;
  }
  if (tfhdFlags & 0x10) offset += 4; // default_sample_size
  let defaultFlags = track?.defaultSampleFlags ?? 0;
  if (tfhdFlags & 0x20) defaultFlags = tfhd.readUInt32BE(offset);

  const children = readChildBoxes(traf);
  const tfdtBox = children.find((box) => box.type === 'tfdt');
  let baseMediaDecodeTime = 0;
  if (tfdtBox !== undefined) {
    const tfdt = payloadOf(tfdtBox);
    baseMediaDecodeTime = tfdt.readUInt8(0) === 1 ? Number(tfdt.readBigUInt64BE(4)) : tfdt.readUInt32BE(4);
  }

  let sampleCount = 0;
  let duration = 0;
  let firstSampleFlags: number | null = null;
  for (const trunBox of children.filter((box) => box.type === 'trun')) {
    const trun = parseTrun(payloadOf(trunBox), defaultDuration, defaultFlags);
    if (firstSampleFlags === null && trun.sampleCount > 0) firstSampleFlags = trun.firstSampleFlags;
    sampleCount += trun.sampleCount;
    duration += trun.duration;
  }
  return {
    trackId,
    baseMediaDecodeTime,
    sampleCount,
    duration,
    firstSampleFlags: firstSampleFlags ?? defaultFlags,
  };
}

function parseTrun(
  trun: Buffer,
  defaultDuration: number,
  defaultFlags: number,
): { sampleCount: number; duration: number; firstSampleFlags: number } {
  const flags = trun.readUInt32BE(0) & 0xff_ffff;
  const sampleCount = trun.readUInt32BE(4);
  let offset = 8;
  if (flags & 0x001) offset += 4; // data_offset
  let explicitFirstFlags: number | null = null;
  if (flags & 0x004) {
    explicitFirstFlags = trun.readUInt32BE(offset);
    offset += 4;
  }
  const hasDuration = (flags & 0x100) !== 0;
  const hasSize = (flags & 0x200) !== 0;
  const hasFlags = (flags & 0x400) !== 0;
  const hasCto = (flags & 0x800) !== 0;
  const stride = 4 * (Number(hasDuration) + Number(hasSize) + Number(hasFlags) + Number(hasCto));
  if (offset + stride * sampleCount > trun.length)
    throw new BoxFormatError('trun sample table overruns the box');
  let duration = 0;
  let firstSampleFlags = explicitFirstFlags ?? defaultFlags;
  for (let i = 0; i < sampleCount; i += 1) {
    let field = offset + i * stride;
    if (hasDuration) {
      duration += trun.readUInt32BE(field);
      field += 4;
    } else {
      duration += defaultDuration;
    }
    if (hasSize) field += 4;
    // "first_sample_flags ... overrides the default flags for the first sample only"; otherwise
    // per-sample flags, then the defaults, decide (ISO/IEC 14496-12 8.8.8).
    if (i === 0 && hasFlags && explicitFirstFlags === null) firstSampleFlags = trun.readUInt32BE(field);
  }
  return { sampleCount, duration, firstSampleFlags };
}
