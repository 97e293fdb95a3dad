// Turns a publish's FLV (what PublishSession.onMedia gives every consumer: the FLV header and cached
// sequence headers, then each tag) into H.264 access units a WebRTC packetizer takes: NAL units with
// 4-byte big-endian lengths ("Length" separator of libdatachannel's H264RtpPacketizer), the SPS and
// PPS put in front of every keyframe so a viewer can start on any of them, and the presentation
// time. The stream is the publisher's own H.264, never re-encoded. Legacy FLV AVC only (CodecID 7);
// Enhanced RTMP and other codecs yield nothing, and `codecSupported` says so.
import { FlvTagType } from '../rtmp/flv.ts';
import { FlvTagReader } from '../whip/flv-tag-reader.ts';

export interface AccessUnit {
  /** Presentation time in ms: the FLV timestamp (decode time) plus the CompositionTime. */
  readonly ptsMs: number;
  readonly keyframe: boolean;
  /**
   * Presented at another time than decoded (a CompositionTime other than 0): the stream has
   * B-frames (or another reordering), which a WebRTC viewer must not be sent (realtime-encoder.ts).
   */
  readonly reordered: boolean;
  /** 4-byte length-prefixed NAL units. */
  readonly data: Buffer;
}

const AVC_CODEC_ID = 7;
/** nal_unit_type 7 = SPS, 8 = PPS (ITU-T H.264 Table 7-1). */
const NAL_SPS = 7;

function withLength(nal: Buffer): Buffer {
  const out = Buffer.alloc(4 + nal.length);
  out.writeUInt32BE(nal.length, 0);
  nal.copy(out, 4);
  return out;
}

/**
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1): version, profile, compatibility, level,
 * `lengthSizeMinusOne` in the low 2 bits of byte 4, then `numOfSequenceParameterSets` (low 5 bits),
 * each a UI16 length and the NAL unit, then `numOfPictureParameterSets`, likewise.
 */
function readAvcConfig(
  record: Buffer,
): { lengthSize: number; profileIdc: number; parameterSets: Buffer } | null {
  if (record.length < 7 || record[0] !== 1) return null;
  const lengthSize = ((record[4] ?? 0) & 0x03) + 1;
  const sets: Buffer[] = [];
  let offset = 5;
  for (const mask of [0x1f, 0xff]) {
    const count = (record[offset] ?? 0) & mask;
    offset += 1;
    for (let index = 0; index < count; index += 1) {
      if (offset + 2 > record.length) return null;
      const size = record.readUInt16BE(offset);
      offset += 2;
      if (offset + size > record.length) return null;
      sets.push(withLength(record.subarray(offset, offset + size)));
      offset += size;
    }
  }
  if (lengthSize === 3 || sets.length === 0) return null;
  return { lengthSize, profileIdc: record[1] ?? 0, parameterSets: Buffer.concat(sets) };
}

export class AvcFeed {
  readonly #reader = new FlvTagReader();
  #lengthSize = 4;
  #parameterSets: Buffer | null = null;
  #profileIdc: number | null = null;
  #codecSupported: boolean | null = null;

  /** profile_idc of the source's SPS (66 Baseline, 77 Main, 100 High), once its header came. */
  get profileIdc(): number | null {
    return this.#profileIdc;
  }

  /** False once a video tag of another codec came; null before any video. */
  get codecSupported(): boolean | null {
    return this.#codecSupported;
  }

  /** Reads FLV bytes; returns the access units they completed. Throws on a malformed FLV stream. */
  push(flvBytes: Buffer): AccessUnit[] {
    const units: AccessUnit[] = [];
    for (const tag of this.#reader.push(flvBytes)) {
      if (tag.type !== FlvTagType.VIDEO || tag.payload.length < 5) continue;
      const first = tag.payload[0] ?? 0;
      if ((first & 0x80) !== 0 || (first & 0x0f) !== AVC_CODEC_ID) {
        this.#codecSupported = false;
        continue;
      }
      this.#codecSupported = true;
      const packetType = tag.payload[1];
      if (packetType === 0) {
        const config = readAvcConfig(tag.payload.subarray(5));
        if (config !== null) {
          this.#lengthSize = config.lengthSize;
          this.#profileIdc = config.profileIdc;
          this.#parameterSets = config.parameterSets;
        }
        continue;
      }
      // "AVCPacketType 1 = AVC NALU; CompositionTime SI24: composition time offset" (FLV v10.1 E.4.3.1).
      if (packetType !== 1 || this.#parameterSets === null) continue;
      const unit = this.#readUnit(tag.payload.subarray(5), first >> 4 === 1);
      if (unit === null) continue;
      const compositionTime = tag.payload.readIntBE(2, 3);
      units.push({
        ptsMs: tag.timestamp + compositionTime,
        keyframe: first >> 4 === 1,
        reordered: compositionTime !== 0,
        data: unit,
      });
    }
    return units;
  }

  /** Re-frames the tag's NAL units with 4-byte lengths; SPS + PPS first on a keyframe without them. */
  #readUnit(data: Buffer, keyframe: boolean): Buffer | null {
    const nals: Buffer[] = [];
    let hasSps = false;
    let offset = 0;
    while (offset + this.#lengthSize <= data.length) {
      const size = data.readUIntBE(offset, this.#lengthSize);
      offset += this.#lengthSize;
      if (size === 0 || offset + size > data.length) return null;
      const nal = data.subarray(offset, offset + size);
      if (((nal[0] ?? 0) & 0x1f) === NAL_SPS) hasSps = true;
      nals.push(this.#lengthSize === 4 ? data.subarray(offset - 4, offset + size) : withLength(nal));
      offset += size;
    }
    if (nals.length === 0) return null;
    if (keyframe && !hasSps && this.#parameterSets !== null) nals.unshift(this.#parameterSets);
    return Buffer.concat(nals);
  }
}
