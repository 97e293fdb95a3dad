import { describe, expect, it } from 'vitest';
import { Amf0EcmaArray, decodeAmf0Values, encodeAmf0 } from '../../../containers/transcoder/src/rtmp/amf0.ts';
import { readAvcDecoderConfig } from '../../../containers/transcoder/src/rtmp/avc-sps.ts';
import {
  encodeFlvTag,
  FLV_HEADER,
  FlvMuxer,
  FlvTagType,
  inspectAudioPayload,
  inspectVideoPayload,
  isFlvVideoKeyframe,
  parseFlvTags,
  readFlvMediaTimestamp,
} from '../../../containers/transcoder/src/rtmp/flv.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';
import { makeFlvSource, muxFlvMessages } from '../ffmpeg/media-fixtures.ts';

const video = (timestamp: number, bytes: number[]): RtmpMessage => ({
  csid: 6,
  type: 9,
  streamId: 1,
  timestamp,
  payload: Buffer.from(bytes),
});
const audio = (timestamp: number, bytes: number[]): RtmpMessage => ({
  csid: 4,
  type: 8,
  streamId: 1,
  timestamp,
  payload: Buffer.from(bytes),
});
const metadata = (timestamp: number): RtmpMessage => ({
  csid: 4,
  type: 18,
  streamId: 1,
  timestamp,
  payload: encodeAmf0(
    '@setDataFrame',
    'onMetaData',
    new Amf0EcmaArray({ width: 320, height: 180, framerate: 30 }),
  ),
});

const AVC_SEQUENCE_HEADER = [0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f];
const AVC_KEYFRAME = [0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88];
const AVC_INTER = [0x27, 0x01, 0, 0, 0x21, 0, 0, 0, 2, 0x41, 0x9a];
const AAC_SEQUENCE_HEADER = [0xaf, 0x00, 0x11, 0x90];
const AAC_FRAME = [0xaf, 0x01, 0x21, 0x10];

describe('FLV', () => {
  it('writes a stream that parses back to the same tags, with the metadata stripped of @setDataFrame', () => {
    const muxer = new FlvMuxer();
    const messages = [
      metadata(0),
      video(0, AVC_SEQUENCE_HEADER),
      audio(0, AAC_SEQUENCE_HEADER),
      video(0, AVC_KEYFRAME),
      audio(21, AAC_FRAME),
      video(33, AVC_INTER),
      // Past 2^24 ms the upper byte goes into TimestampExtended.
      video(0x1234567, AVC_INTER),
    ];
    const tags = messages.map((message) => muxer.push(message));
    expect(tags.every((tag) => tag !== null)).toBe(true);
    const stream = Buffer.concat([
      muxer.getStartBytes().subarray(0, FLV_HEADER.length),
      ...tags.filter((t) => t !== null),
    ]);
    const parsed = parseFlvTags(stream);
    expect(parsed.map((tag) => [tag.type, tag.timestamp])).toEqual([
      [18, 0],
      [9, 0],
      [8, 0],
      [9, 0],
      [8, 21],
      [9, 33],
      [9, 0x1234567],
    ]);
    expect(decodeAmf0Values(parsed[0]?.payload ?? Buffer.alloc(0))).toEqual([
      'onMetaData',
      new Amf0EcmaArray({ width: 320, height: 180, framerate: 30 }),
    ]);
    expect([...(parsed[3]?.payload ?? [])]).toEqual(AVC_KEYFRAME);
    expect(muxer.stats).toMatchObject({
      videoCodec: 'avc',
      audioCodec: 'aac',
      width: 320,
      height: 180,
      frameRate: 30,
    });
  });

  it('starts late consumers with the header, metadata and both sequence headers, and no frames', () => {
    const muxer = new FlvMuxer();
    for (const message of [metadata(0), video(0, AVC_SEQUENCE_HEADER), audio(0, AAC_SEQUENCE_HEADER)])
      muxer.push(message);
    for (let t = 0; t < 500; t += 33) muxer.push(video(t, t === 0 ? AVC_KEYFRAME : AVC_INTER));
    const parsed = parseFlvTags(muxer.getStartBytes());
    expect(parsed.map((tag) => [...tag.payload.subarray(0, 2)])).toEqual([
      [...encodeAmf0('onMetaData').subarray(0, 2)],
      [0x17, 0x00],
      [0xaf, 0x00],
    ]);
  });

  it('measures the keyframe interval in media time, ignoring sequence headers', () => {
    const muxer = new FlvMuxer();
    muxer.push(video(0, AVC_SEQUENCE_HEADER));
    expect(muxer.stats.keyframeIntervalMs).toBeNull();
    for (let t = 0; t <= 6000; t += 100) muxer.push(video(t, t % 2000 === 0 ? AVC_KEYFRAME : AVC_INTER));
    expect(muxer.stats.keyframeIntervalMs).toBe(2000);
    muxer.push(video(7000, AVC_KEYFRAME));
    expect(muxer.stats.keyframeIntervalMs).toBe(1000);
    expect(muxer.stats.lastMediaTimestamp).toBe(7000);
  });

  it('drops data messages other than onMetaData and malformed ones', () => {
    const muxer = new FlvMuxer();
    expect(muxer.push({ ...metadata(0), payload: encodeAmf0('onCuePoint', { name: 'x' }) })).toBeNull();
    expect(muxer.push({ ...metadata(0), payload: Buffer.from([0x02, 0xff]) })).toBeNull();
    expect(muxer.push(video(0, []))).toBeNull();
  });

  it('recognises AVC, Enhanced RTMP FourCCs, keyframes and sequence headers', () => {
    expect(inspectVideoPayload(Buffer.from(AVC_SEQUENCE_HEADER))).toEqual({
      codec: 'avc',
      isKeyframe: false,
      isSequenceHeader: true,
      isFrame: false,
    });
    expect(inspectVideoPayload(Buffer.from(AVC_KEYFRAME))).toMatchObject({
      codec: 'avc',
      isKeyframe: true,
      isFrame: true,
    });
    expect(inspectVideoPayload(Buffer.from(AVC_INTER))).toMatchObject({ isKeyframe: false, isFrame: true });
    // Enhanced RTMP: 0x80 | frameType << 4 | packetType, then the FourCC.
    expect(inspectVideoPayload(Buffer.from([0x90, ...Buffer.from('hvc1'), 1]))).toMatchObject({
      codec: 'hevc',
      isSequenceHeader: true,
    });
    expect(inspectVideoPayload(Buffer.from([0x91, ...Buffer.from('av01'), 0]))).toMatchObject({
      codec: 'av1',
      isKeyframe: true,
    });
    expect(inspectVideoPayload(Buffer.from([0xa3, ...Buffer.from('vp09'), 0]))).toMatchObject({
      codec: 'vp9',
      isKeyframe: false,
      isFrame: true,
    });
    expect(inspectAudioPayload(Buffer.from(AAC_SEQUENCE_HEADER))).toEqual({
      codec: 'aac',
      isSequenceHeader: true,
    });
    expect(inspectAudioPayload(Buffer.from(AAC_FRAME))).toEqual({ codec: 'aac', isSequenceHeader: false });
    expect(inspectAudioPayload(Buffer.from([0x2f, 0xff]))).toEqual({ codec: 'mp3', isSequenceHeader: false });
  });

  it('finds keyframes in FLV tags, legacy and Enhanced RTMP alike, where a restarted ffmpeg may start', () => {
    const tag = (type: number, timestamp: number, ...payload: number[]): Buffer =>
      encodeFlvTag(type, timestamp, Buffer.from(payload));
    const hevcKeyframe = tag(FlvTagType.VIDEO, 0x01020304, 0x91, ...Buffer.from('hvc1'), 0, 0, 0, 1);
    const hevcInterFrame = tag(FlvTagType.VIDEO, 40, 0xa1, ...Buffer.from('hvc1'), 0, 0, 0, 1);
    const avcKeyframe = tag(FlvTagType.VIDEO, 0, 0x17, 0x01, 0, 0, 0, 1);
    const avcSequenceHeader = tag(FlvTagType.VIDEO, 0, 0x17, 0x00, 1, 2);
    const audio = tag(FlvTagType.AUDIO, 77, 0xaf, 0x01, 5);
    expect(
      [hevcKeyframe, hevcInterFrame, avcKeyframe, avcSequenceHeader, audio].map(isFlvVideoKeyframe),
    ).toEqual([true, false, true, false, false]);
    // The extended timestamp byte is the high 8 bits; the FLV header and script data have none.
    expect(readFlvMediaTimestamp(hevcKeyframe)).toBe(0x01020304);
    expect(readFlvMediaTimestamp(audio)).toBe(77);
    expect(readFlvMediaTimestamp(tag(FlvTagType.SCRIPT_DATA, 5, 2))).toBeNull();
    expect(readFlvMediaTimestamp(FLV_HEADER)).toBeNull();
  });

  it('refuses an FLV stream whose PreviousTagSize does not match', () => {
    const tag = encodeFlvTag(9, 0, Buffer.from([1, 2, 3]));
    tag.writeUInt32BE(99, tag.length - 4);
    expect(() => parseFlvTags(Buffer.concat([FLV_HEADER, tag]))).toThrow(/PreviousTagSize/);
  });
});

/** The avcC of an ffmpeg-made FLV: the payload of its AVC sequence header after `0x17 00` + CTS. */
function findAvcConfig(flv: Buffer): Buffer {
  const header = parseFlvTags(flv).find((tag) => tag.type === 9 && tag.payload[1] === 0);
  if (header === undefined) throw new Error('no AVC sequence header');
  return header.payload.subarray(5);
}

describe('FLV picture size from the AVC sequence header', () => {
  it('takes width, height and frame rate from the SPS when onMetaData leaves them out', async () => {
    // 180 is not a multiple of 16: the SPS codes 192 rows and crops 12 (crop units of 2 in 4:2:0).
    const flv = await makeFlvSource({ seconds: 0.5, width: 320, height: 180, fps: 25 });
    const muxer = muxFlvMessages(flv, { withoutMetadata: true });
    expect(muxer.stats).toMatchObject({ videoCodec: 'avc', width: 320, height: 180, frameRate: 25 });
    expect(muxer.stats.videoBitrate).toBeNull();
  });

  it('reads the SPS of baseline and High 4:4:4 streams, whose syntax and crop units differ', async () => {
    const baseline = await makeFlvSource({ seconds: 0.3, width: 200, height: 120, profile: 'baseline' });
    expect(readAvcDecoderConfig(findAvcConfig(baseline))).toEqual({ width: 200, height: 120, frameRate: 30 });
    // 4:4:4 crops in single pixels: 336x192 coded, 14 and 6 cropped (4:2:0 units would cut twice that).
    const full = await makeFlvSource({
      seconds: 0.3,
      width: 322,
      height: 186,
      fps: 50,
      pixelFormat: 'yuv444p',
    });
    const config = findAvcConfig(full);
    expect(config[1]).toBe(244);
    expect(readAvcDecoderConfig(config)).toEqual({ width: 322, height: 186, frameRate: 50 });
  });

  it('refuses an avcC that is cut short or carries no SPS', async () => {
    const config = findAvcConfig(await makeFlvSource({ seconds: 0.3 }));
    expect(readAvcDecoderConfig(config.subarray(0, 9))).toBeNull();
    const noSps = Buffer.from(config);
    noSps[5] = 0xe0;
    expect(readAvcDecoderConfig(noSps)).toBeNull();
    expect(readAvcDecoderConfig(Buffer.alloc(0))).toBeNull();
  });

  it('prefers the size onMetaData announces and turns videodatarate (kbit/s) into bits per second', async () => {
    const flv = await makeFlvSource({ seconds: 0.5, width: 320, height: 180, videoBitrate: '800k' });
    const muxer = muxFlvMessages(flv);
    expect(muxer.stats).toMatchObject({ width: 320, height: 180, frameRate: 30 });
    // ffmpeg announces bit_rate / 1024 as kbit/s.
    expect(muxer.stats.videoBitrate).toBeGreaterThan(760_000);
    expect(muxer.stats.videoBitrate).toBeLessThanOrEqual(800_000);
    // A metadata size that disagrees with the SPS is still what the broadcaster said.
    muxer.push({
      ...metadata(1000),
      payload: encodeAmf0('@setDataFrame', 'onMetaData', new Amf0EcmaArray({ width: 640, height: 360 })),
    });
    expect(muxer.stats).toMatchObject({ width: 640, height: 360, frameRate: 30, videoBitrate: null });
  });

  it('knows from onMetaData whether audio is coming, before the first audio tag', () => {
    const muxer = new FlvMuxer();
    expect(muxer.stats.audioAnnounced).toBeNull();
    const announce = (properties: Record<string, number | boolean>) =>
      muxer.push({
        ...metadata(0),
        payload: encodeAmf0('@setDataFrame', 'onMetaData', new Amf0EcmaArray(properties)),
      });
    // OBS's and ffmpeg's keys for an AAC track.
    announce({ width: 320, height: 180, audiocodecid: 10, audiosamplerate: 48000, stereo: true });
    expect(muxer.stats).toMatchObject({ audioAnnounced: true, audioCodec: null });
    announce({ width: 320, height: 180, videocodecid: 7 });
    expect(muxer.stats.audioAnnounced).toBe(false);
  });
});
