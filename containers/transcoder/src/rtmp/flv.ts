// Turns RTMP media messages into an FLV byte stream (Adobe "Video File Format Specification"
// v10.1, annex E) that `ffmpeg -f flv -i pipe:0` reads, and learns from the media what the
// transcoder needs to know: codecs, keyframes, the keyframe interval, the metadata.
import { type Amf0Object, type Amf0Value, decodeAmf0Values, encodeAmf0, getAmf0Properties } from './amf0.ts';
import { type AvcPictureInfo, readAvcDecoderConfig } from './avc-sps.ts';
import { MessageType, type RtmpMessage } from './messages.ts';

export const FlvTagType = { AUDIO: 8, VIDEO: 9, SCRIPT_DATA: 18 } as const;

/** "Signature UI8 'F' 'L' 'V', Version UI8 1, TypeFlags (audio 0x04 | video 0x01), DataOffset UI32 9", then PreviousTagSize0 = 0. */
export const FLV_HEADER = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]);
const TAG_HEADER_SIZE = 11;

export type VideoCodec = 'avc' | 'hevc' | 'av1' | 'vp9' | 'vp8' | 'other';
export type AudioCodec = 'aac' | 'mp3' | 'opus' | 'other';

export interface VideoInfo {
  readonly codec: VideoCodec;
  /** Frame type 1: "key frame (for AVC, a seekable frame)". */
  readonly isKeyframe: boolean;
  /** AVC `0x17 00` + avcC, or Enhanced RTMP PacketTypeSequenceStart. */
  readonly isSequenceHeader: boolean;
  /** False for sequence headers/ends and video info frames: nothing to decode. */
  readonly isFrame: boolean;
}

export interface AudioInfo {
  readonly codec: AudioCodec;
  /** AAC `0xAF 00` + AudioSpecificConfig. */
  readonly isSequenceHeader: boolean;
}

const LEGACY_VIDEO_CODECS: Readonly<Record<number, VideoCodec>> = { 7: 'avc', 12: 'hevc' };
const ENHANCED_VIDEO_CODECS: Readonly<Record<string, VideoCodec>> = {
  avc1: 'avc',
  hvc1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  vp08: 'vp8',
};

export function inspectVideoPayload(payload: Buffer): VideoInfo | null {
  const first = payload[0];
  if (first === undefined) return null;
  // Enhanced RTMP: "IsExHeader = UB[1]; if IsExHeader, FrameType = UB[3], PacketType = UB[4],
  // then VideoFourCc = FOURCC". PacketType 0 is SequenceStart, 1 CodedFrames, 3 CodedFramesX.
  if ((first & 0x80) !== 0) {
    if (payload.length < 5) return null;
    const frameType = (first >> 4) & 0x07;
    const packetType = first & 0x0f;
    const codec = ENHANCED_VIDEO_CODECS[payload.toString('latin1', 1, 5)] ?? 'other';
    const isFrame = (packetType === 1 || packetType === 3) && frameType !== 5;
    return { codec, isKeyframe: isFrame && frameType === 1, isSequenceHeader: packetType === 0, isFrame };
  }
  const frameType = first >> 4;
  const codec = LEGACY_VIDEO_CODECS[first & 0x0f] ?? 'other';
  if (codec === 'avc' || codec === 'hevc') {
    // "AVCPacketType: 0 = AVC sequence header, 1 = AVC NALU, 2 = AVC end of sequence".
    const packetType = payload[1];
    if (packetType === undefined) return null;
    const isFrame = packetType === 1 && frameType !== 5;
    return { codec, isKeyframe: isFrame && frameType === 1, isSequenceHeader: packetType === 0, isFrame };
  }
  // Frame type 5 is "video info/command frame".
  const isFrame = frameType !== 5;
  return { codec, isKeyframe: isFrame && frameType === 1, isSequenceHeader: false, isFrame };
}

export function inspectAudioPayload(payload: Buffer): AudioInfo | null {
  const first = payload[0];
  if (first === undefined) return null;
  // "SoundFormat UB[4]: 2 = MP3, 10 = AAC"; Enhanced RTMP v2 uses 9 = ExHeader with a FourCC.
  const soundFormat = first >> 4;
  if (soundFormat === 10) {
    const packetType = payload[1];
    if (packetType === undefined) return null;
    return { codec: 'aac', isSequenceHeader: packetType === 0 };
  }
  if (soundFormat === 2) return { codec: 'mp3', isSequenceHeader: false };
  if (soundFormat === 9 && payload.length >= 5) {
    const fourCc = payload.toString('latin1', 1, 5);
    const codec: AudioCodec = fourCc === 'Opus' ? 'opus' : fourCc === 'mp4a' ? 'aac' : 'other';
    return { codec, isSequenceHeader: (first & 0x0f) === 0 };
  }
  return { codec: 'other', isSequenceHeader: false };
}

/** One FLV tag: header, payload, and the PreviousTagSize that follows it. */
export function encodeFlvTag(type: number, timestamp: number, payload: Buffer): Buffer {
  const tag = Buffer.alloc(TAG_HEADER_SIZE + payload.length + 4);
  const time = timestamp >>> 0;
  tag[0] = type;
  tag.writeUIntBE(payload.length, 1, 3);
  // "Timestamp UI24 [...] TimestampExtended UI8: the upper 8 bits of the timestamp".
  tag.writeUIntBE(time & 0xffffff, 4, 3);
  tag[7] = time >>> 24;
  // StreamID UI24 "Always 0" (bytes 8..10 stay zero).
  payload.copy(tag, TAG_HEADER_SIZE);
  tag.writeUInt32BE(TAG_HEADER_SIZE + payload.length, TAG_HEADER_SIZE + payload.length);
  return tag;
}

/**
 * The timestamp (ms) of an FLV audio or video tag: "Timestamp UI24 [...] TimestampExtended UI8:
 * the upper 8 bits". Null for anything else (the FLV header and codec configuration that start a
 * media listener, script data).
 */
export function readFlvMediaTimestamp(tag: Buffer): number | null {
  const type = tag[0];
  if (tag.length < TAG_HEADER_SIZE || (type !== FlvTagType.AUDIO && type !== FlvTagType.VIDEO)) return null;
  return (((tag[7] ?? 0) << 24) | ((tag[4] ?? 0) << 16) | ((tag[5] ?? 0) << 8) | (tag[6] ?? 0)) >>> 0;
}

export function isFlvVideoTag(tag: Buffer): boolean {
  return tag[0] === FlvTagType.VIDEO;
}

/**
 * A video tag a decoder can start on, legacy (`0x17`, frame type 1) or Enhanced RTMP (IsExHeader
 * set, FrameType 1 in bits 4-6): the same rule `inspectVideoPayload` applies to the RTMP message.
 */
export function isFlvVideoKeyframe(tag: Buffer): boolean {
  if (!isFlvVideoTag(tag) || tag.length <= TAG_HEADER_SIZE) return false;
  return inspectVideoPayload(tag.subarray(TAG_HEADER_SIZE))?.isKeyframe ?? false;
}

export interface FlvTag {
  readonly type: number;
  readonly timestamp: number;
  readonly payload: Buffer;
}

/** Parses a complete FLV byte stream (header first). Throws on malformed input. */
export function parseFlvTags(bytes: Buffer): FlvTag[] {
  if (bytes.length < 13 || bytes.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV stream');
  const tags: FlvTag[] = [];
  let offset = bytes.readUInt32BE(5) + 4;
  while (offset + TAG_HEADER_SIZE <= bytes.length) {
    const size = bytes.readUIntBE(offset + 1, 3);
    const end = offset + TAG_HEADER_SIZE + size;
    if (end + 4 > bytes.length) throw new Error(`truncated FLV tag at ${offset}`);
    if (bytes.readUInt32BE(end) !== TAG_HEADER_SIZE + size) throw new Error(`bad PreviousTagSize at ${end}`);
    const timestamp = (bytes.readUIntBE(offset + 4, 3) | ((bytes[offset + 7] ?? 0) << 24)) >>> 0;
    const type = bytes[offset] ?? 0;
    tags.push({ type, timestamp, payload: bytes.subarray(offset + TAG_HEADER_SIZE, end) });
    offset = end + 4;
  }
  if (offset !== bytes.length) throw new Error(`trailing ${bytes.length - offset} bytes`);
  return tags;
}

/** onMetaData properties only a stream with audio carries (OBS, ffmpeg and librtmp encoders). */
const AUDIO_METADATA_KEYS = ['audiocodecid', 'audiodatarate', 'audiosamplerate', 'stereo'] as const;

export interface MediaStats {
  videoCodec: VideoCodec | null;
  audioCodec: AudioCodec | null;
  /** From onMetaData, else from the SPS of the AVC sequence header. */
  width: number | null;
  height: number | null;
  frameRate: number | null;
  /** Bits per second the broadcaster announced (onMetaData videodatarate, which is in kbit/s). */
  videoBitrate: number | null;
  /** Time between the last two keyframes, in ms of media time. */
  keyframeIntervalMs: number | null;
  /** Timestamp (ms) of the last audio or video message. */
  lastMediaTimestamp: number | null;
  /**
   * Whether onMetaData announced an audio track (audiocodecid and the like); null before any
   * metadata. A publish's first video tag comes before its first audio one.
   */
  audioAnnounced: boolean | null;
}

/**
 * Stateful RTMP → FLV conversion for one publish. Keeps the tags a decoder needs before it can
 * start (metadata, video and audio sequence headers) so a consumer that attaches late, such as
 * an ffmpeg restarted mid-stream, gets them first.
 */
export class FlvMuxer {
  #metadataTag: Buffer | null = null;
  #videoConfigTag: Buffer | null = null;
  #audioConfigTag: Buffer | null = null;
  #lastKeyframeTimestamp: number | null = null;
  #metadata: { width: number | null; height: number | null; frameRate: number | null } = {
    width: null,
    height: null,
    frameRate: null,
  };
  #picture: AvcPictureInfo | null = null;
  readonly stats: MediaStats = {
    videoCodec: null,
    audioCodec: null,
    width: null,
    height: null,
    frameRate: null,
    videoBitrate: null,
    keyframeIntervalMs: null,
    lastMediaTimestamp: null,
    audioAnnounced: null,
  };

  /** The FLV header followed by the cached metadata and sequence header tags. */
  getStartBytes(): Buffer {
    const parts: Buffer[] = [FLV_HEADER];
    for (const tag of [this.#metadataTag, this.#videoConfigTag, this.#audioConfigTag])
      if (tag !== null) parts.push(tag);
    return Buffer.concat(parts);
  }

  /** Returns the FLV tag for a media or data message, or null when it carries nothing to pass on. */
  push(message: RtmpMessage): Buffer | null {
    switch (message.type) {
      case MessageType.VIDEO:
        return this.#pushVideo(message);
      case MessageType.AUDIO:
        return this.#pushAudio(message);
      case MessageType.DATA_AMF0:
        return this.#pushData(message.payload, message.timestamp);
      case MessageType.DATA_AMF3:
        // Type 15 data from AMF3 encoders starts with a format byte, then carries AMF0 values.
        return this.#pushData(message.payload.subarray(1), message.timestamp);
      default:
        return null;
    }
  }

  #pushVideo(message: RtmpMessage): Buffer | null {
    const info = inspectVideoPayload(message.payload);
    if (info === null) return null;
    const tag = encodeFlvTag(FlvTagType.VIDEO, message.timestamp, message.payload);
    this.stats.videoCodec = info.codec;
    this.stats.lastMediaTimestamp = message.timestamp;
    if (info.isSequenceHeader) {
      this.#videoConfigTag = tag;
      if (info.codec === 'avc') this.#readAvcConfig(message.payload);
    }
    if (info.isKeyframe) {
      if (this.#lastKeyframeTimestamp !== null && message.timestamp > this.#lastKeyframeTimestamp) {
        this.stats.keyframeIntervalMs = message.timestamp - this.#lastKeyframeTimestamp;
      }
      this.#lastKeyframeTimestamp = message.timestamp;
    }
    return tag;
  }

  #pushAudio(message: RtmpMessage): Buffer | null {
    const info = inspectAudioPayload(message.payload);
    if (info === null) return null;
    const tag = encodeFlvTag(FlvTagType.AUDIO, message.timestamp, message.payload);
    this.stats.audioCodec = info.codec;
    this.stats.lastMediaTimestamp = message.timestamp;
    if (info.isSequenceHeader) this.#audioConfigTag = tag;
    return tag;
  }

  /**
   * Publishers send `@setDataFrame("onMetaData", {...})`, meaning "store onMetaData with the
   * stream": in a file that is the `onMetaData` script tag, so the `@setDataFrame` is dropped. Other data messages are dropped: nothing
   * downstream reads them, and they would only be extra input to ffmpeg.
   */
  #pushData(payload: Buffer, timestamp: number): Buffer | null {
    let values: Amf0Value[];
    try {
      values = decodeAmf0Values(payload);
    } catch {
      return null;
    }
    if (values[0] === '@setDataFrame') values = values.slice(1);
    if (values[0] !== 'onMetaData') return null;
    const metadata = getAmf0Properties(values[1] ?? null);
    if (metadata === null) return null;
    this.#readMetadata(metadata);
    const tag = encodeFlvTag(FlvTagType.SCRIPT_DATA, timestamp, encodeAmf0('onMetaData', values[1] ?? null));
    this.#metadataTag = tag;
    return tag;
  }

  #readMetadata(metadata: Amf0Object): void {
    this.#metadata = {
      width: readPositiveNumber(metadata.width),
      height: readPositiveNumber(metadata.height),
      frameRate: readPositiveNumber(metadata.framerate) ?? readPositiveNumber(metadata.fps),
    };
    this.stats.audioAnnounced = AUDIO_METADATA_KEYS.some((key) => metadata[key] !== undefined);
    const kilobits = readPositiveNumber(metadata.videodatarate);
    this.stats.videoBitrate = kilobits === null ? null : Math.round(kilobits * 1000);
    this.#updatePicture();
  }

  /**
   * The avcC follows the 5-byte header of a legacy AVC sequence header (`0x17 00` + CompositionTime
   * SI24) and the 5-byte header of an Enhanced RTMP one (ExHeader byte + FourCC 'avc1').
   */
  #readAvcConfig(payload: Buffer): void {
    this.#picture = readAvcDecoderConfig(payload.subarray(5)) ?? this.#picture;
    this.#updatePicture();
  }

  /** What the broadcaster announced wins; the SPS fills in what it left out. */
  #updatePicture(): void {
    const announced = this.#metadata;
    const hasSize = announced.width !== null && announced.height !== null;
    this.stats.width = hasSize ? announced.width : (this.#picture?.width ?? null);
    this.stats.height = hasSize ? announced.height : (this.#picture?.height ?? null);
    this.stats.frameRate = announced.frameRate ?? this.#picture?.frameRate ?? null;
  }
}

function readPositiveNumber(value: Amf0Value): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}
