// Reads the picture size and frame rate out of an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1
// and E.1.1), reached through the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) that an
// FLV AVC sequence header carries. Publishers that send no onMetaData width/height (or lie in it)
// still describe the picture exactly here, and the ladder must not upscale a small source.

export interface AvcPictureInfo {
  width: number;
  height: number;
  /** From the VUI timing info, when the encoder wrote it (x264 and OBS do). */
  frameRate: number | null;
}

/** profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** aspect_ratio_idc "Extended_SAR": sar_width and sar_height follow (Table E-1). */
const EXTENDED_SAR = 255;
const MAX_PLAUSIBLE_FRAME_RATE = 240;

class SpsBitReader {
  readonly #bytes: Buffer;
  #bit = 0;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  readBit(): number {
    const byte = this.#bytes[this.#bit >> 3];
    if (byte === undefined) throw new RangeError('SPS ends early');
    const bit = (byte >> (7 - (this.#bit & 7))) & 1;
    this.#bit += 1;
    return bit;
  }

  readBits(count: number): number {
    let value = 0;
    for (let index = 0; index < count; index += 1) value = value * 2 + this.readBit();
    return value;
  }

  /** ue(v), 9.1: leading zero bits, a one, then as many bits again. */
  readUnsignedExpGolomb(): number {
    let leadingZeros = 0;
    while (this.readBit() === 0) {
      leadingZeros += 1;
      if (leadingZeros > 31) throw new RangeError('exp-Golomb code too long');
    }
    return 2 ** leadingZeros - 1 + this.readBits(leadingZeros);
  }

  /** se(v), 9.1.1: k maps to (-1)^(k+1) * Ceil(k / 2). */
  readSignedExpGolomb(): number {
    const code = this.readUnsignedExpGolomb();
    return code % 2 === 1 ? (code + 1) / 2 : -(code / 2);
  }
}

/** "emulation_prevention_three_byte": every 0x000003 in a NAL unit stands for 0x0000 (7.4.1). */
function removeEmulationPrevention(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out.push(byte);
  }
  return Buffer.from(out);
}

/** scaling_list( ) of 7.3.2.1.1.1: only read to get past it. */
function skipScalingList(reader: SpsBitReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let index = 0; index < size; index += 1) {
    if (nextScale !== 0) nextScale = (lastScale + reader.readSignedExpGolomb() + 256) % 256;
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/** Parses one SPS NAL unit (header byte included). Null when it is not an SPS or is malformed. */
export function parseAvcSps(nal: Buffer): AvcPictureInfo | null {
  // nal_unit_type 7 is "Sequence parameter set".
  if (nal.length < 4 || ((nal[0] ?? 0) & 0x1f) !== 7) return null;
  const reader = new SpsBitReader(removeEmulationPrevention(nal.subarray(1)));
  try {
    const profileIdc = reader.readBits(8);
    reader.readBits(16); // constraint_set flags, reserved_zero_2bits, level_idc
    reader.readUnsignedExpGolomb(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = false;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = reader.readUnsignedExpGolomb();
      if (chromaFormatIdc === 3) separateColourPlane = reader.readBit() === 1;
      reader.readUnsignedExpGolomb(); // bit_depth_luma_minus8
      reader.readUnsignedExpGolomb(); // bit_depth_chroma_minus8
      reader.readBit(); // qpprime_y_zero_transform_bypass_flag
      if (reader.readBit() === 1) {
        const lists = chromaFormatIdc === 3 ? 12 : 8;
        for (let index = 0; index < lists; index += 1) {
          if (reader.readBit() === 1) skipScalingList(reader, index < 6 ? 16 : 64);
        }
      }
    }
    reader.readUnsignedExpGolomb(); // log2_max_frame_num_minus4
    const picOrderCntType = reader.readUnsignedExpGolomb();
    if (picOrderCntType === 0) {
      reader.readUnsignedExpGolomb(); // log2_max_pic_order_cnt_lsb_minus4
    } else if (picOrderCntType === 1) {
      reader.readBit(); // delta_pic_order_always_zero_flag
      reader.readSignedExpGolomb(); // offset_for_non_ref_pic
      reader.readSignedExpGolomb(); // offset_for_top_to_bottom_field
      const cycle = reader.readUnsignedExpGolomb();
      for (let index = 0; index < cycle; index += 1) reader.readSignedExpGolomb();
    }
    reader.readUnsignedExpGolomb(); // max_num_ref_frames
    reader.readBit(); // gaps_in_frame_num_value_allowed_flag
    const widthInMbs = reader.readUnsignedExpGolomb() + 1;
    const heightInMapUnits = reader.readUnsignedExpGolomb() + 1;
    const frameMbsOnly = reader.readBit();
    if (frameMbsOnly === 0) reader.readBit(); // mb_adaptive_frame_field_flag
    reader.readBit(); // direct_8x8_inference_flag
    let crop = { left: 0, right: 0, top: 0, bottom: 0 };
    if (reader.readBit() === 1) {
      crop = {
        left: reader.readUnsignedExpGolomb(),
        right: reader.readUnsignedExpGolomb(),
        top: reader.readUnsignedExpGolomb(),
        bottom: reader.readUnsignedExpGolomb(),
      };
    }
    // 7.4.2.1.1: "CropUnitX = 1, CropUnitY = 2 − frame_mbs_only_flag" when ChromaArrayType is 0,
    // else "CropUnitX = SubWidthC, CropUnitY = SubHeightC * (2 − frame_mbs_only_flag)" (Table 6-1).
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    const width = widthInMbs * 16 - cropUnitX * (crop.left + crop.right);
    const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop.top + crop.bottom);
    if (width <= 0 || height <= 0) return null;
    return { width, height, frameRate: readVuiFrameRate(reader) };
  } catch {
    return null;
  }
}

/** vui_parameters( ) of E.1.1 up to timing_info: "frame rate = time_scale / (2 * num_units_in_tick)". */
function readVuiFrameRate(reader: SpsBitReader): number | null {
  try {
    if (reader.readBit() === 0) return null; // vui_parameters_present_flag
    if (reader.readBit() === 1 && reader.readBits(8) === EXTENDED_SAR) reader.readBits(32);
    if (reader.readBit() === 1) reader.readBit(); // overscan_info_present_flag, overscan_appropriate_flag
    if (reader.readBit() === 1) {
      reader.readBits(4); // video_format, video_full_range_flag
      if (reader.readBit() === 1) reader.readBits(24); // colour_primaries, transfer, matrix
    }
    if (reader.readBit() === 1) {
      reader.readUnsignedExpGolomb(); // chroma_sample_loc_type_top_field
      reader.readUnsignedExpGolomb(); // chroma_sample_loc_type_bottom_field
    }
    if (reader.readBit() === 0) return null; // timing_info_present_flag
    const numUnitsInTick = reader.readBits(32);
    const timeScale = reader.readBits(32);
    if (numUnitsInTick === 0) return null;
    const frameRate = timeScale / (2 * numUnitsInTick);
    // An encoder fed a millisecond time base writes time_scale 2000 per tick: a clock, not a rate.
    return frameRate > 0 && frameRate <= MAX_PLAUSIBLE_FRAME_RATE ? frameRate : null;
  } catch {
    return null;
  }
}

/**
 * The picture of the first SPS in an AVCDecoderConfigurationRecord: configurationVersion,
 * AVCProfileIndication, profile_compatibility, AVCLevelIndication, lengthSizeMinusOne (1 byte each),
 * then numOfSequenceParameterSets (low 5 bits) and each as a 16-bit length + NAL unit.
 */
export function readAvcDecoderConfig(record: Buffer): AvcPictureInfo | null {
  if (record.length < 8 || record[0] !== 1) return null;
  if (((record[5] ?? 0) & 0x1f) === 0) return null;
  const length = record.readUInt16BE(6);
  if (8 + length > record.length) return null;
  return parseAvcSps(record.subarray(8, 8 + length));
}
