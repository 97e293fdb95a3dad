// The one ISO-BMFF reader (media/mp4/) on real ffmpeg output: cut out of a pipe however it is
// chunked, with track facts and fragment timing the packager and the Worker both rely on.
import { beforeAll, describe, expect, it } from 'vitest';
import { BoxFormatError, BoxReader, type OwnedBox } from '../../../media/mp4/boxes.ts';
import { isSyncSample, readMoof } from '../../../media/mp4/fragments.ts';
import { type InitFacts, readMoov } from '../../../media/mp4/init.ts';
import { makeFragmentedMp4, splitRandomly } from '../ffmpeg/media-fixtures.ts';

function parseMoov(box: OwnedBox): InitFacts {
  return readMoov(box.bytes, box);
}

function readAll(bytes: Buffer, chunks: Buffer[], maxBoxSize?: number): OwnedBox[] {
  const reader = new BoxReader({ maxBoxSize });
  const boxes = chunks.flatMap((chunk) => reader.push(chunk));
  expect(reader.bufferedBytes).toBe(0);
  expect(Buffer.concat(boxes.map((box) => box.bytes)).equals(bytes)).toBe(true);
  return boxes;
}

describe('ISO-BMFF box reader on ffmpeg-made fragmented MP4', () => {
  let high: Buffer;
  let baseline: Buffer;

  beforeAll(async () => {
    [high, baseline] = await Promise.all([
      makeFragmentedMp4({ seconds: 3, profile: 'high' }),
      makeFragmentedMp4({ seconds: 1, profile: 'baseline' }),
    ]);
  });

  it('cuts the same boxes out of the stream however it is chunked', () => {
    const whole = readAll(high, [high]).map((box) => `${box.type}:${box.bytes.length}`);
    expect(whole.slice(0, 3)).toEqual([
      expect.stringMatching(/^ftyp:/),
      expect.stringMatching(/^moov:/),
      expect.stringMatching(/^moof:/),
    ]);
    for (const seed of [1, 7, 42, 1234]) {
      const chunked = readAll(high, splitRandomly(high, seed, 3000)).map(
        (box) => `${box.type}:${box.bytes.length}`,
      );
      expect(chunked).toEqual(whole);
    }
    const byteByByte = readAll(baseline, splitRandomly(baseline, 9, 1));
    expect(byteByByte.length).toBeGreaterThan(4);
  });

  it('reads codecs, timescales and dimensions from the moov', () => {
    const [highMoov] = readAll(high, [high]).filter((box) => box.type === 'moov');
    const [baseMoov] = readAll(baseline, [baseline]).filter((box) => box.type === 'moov');
    if (highMoov === undefined || baseMoov === undefined) throw new Error('no moov');
    const highInit = parseMoov(highMoov);
    const video = highInit.tracks.find((track) => track.handler === 'vide');
    const audio = highInit.tracks.find((track) => track.handler === 'soun');
    expect(video?.codec).toMatch(/^avc1\.64[0-9a-f]{4}$/);
    expect(video?.width).toBe(320);
    expect(video?.height).toBe(180);
    expect(video?.timescale).toBeGreaterThan(0);
    expect(audio?.codec).toBe('mp4a.40.2');
    expect(audio?.timescale).toBe(48_000);
    const baseVideo = parseMoov(baseMoov).tracks.find((track) => track.handler === 'vide');
    expect(baseVideo?.codec).toMatch(/^avc1\.42[0-9a-f]{4}$/);
  });

  it('reads fragment timing and finds a keyframe at every 2 s GOP start', () => {
    const boxes = readAll(high, splitRandomly(high, 3));
    const moov = boxes.find((box) => box.type === 'moov');
    if (moov === undefined) throw new Error('no moov');
    const init = parseMoov(moov);
    const video = init.tracks.find((track) => track.handler === 'vide');
    if (video === undefined) throw new Error('no video track');
    const fragments = boxes
      .filter((box) => box.type === 'moof')
      .map((moof) => readMoof(moof.bytes, moof, init));
    const sequence = fragments.map((fragment) => fragment.sequenceNumber);
    expect(sequence).toEqual(sequence.map((_, index) => (sequence[0] ?? 0) + index));

    let expectedStart = 0;
    let keyframeTimes: number[] = [];
    for (const fragment of fragments) {
      const traf = fragment.trafs.find((candidate) => candidate.trackId === video.trackId);
      if (traf === undefined) continue;
      // Fragments tile the timeline: each starts where the previous one ended.
      expect(traf.baseMediaDecodeTime).toBe(expectedStart);
      expectedStart += traf.duration;
      if (isSyncSample(traf.firstSampleFlags)) keyframeTimes.push(traf.baseMediaDecodeTime / video.timescale);
    }
    keyframeTimes = keyframeTimes.map((seconds) => Math.round(seconds * 1000) / 1000);
    expect(keyframeTimes).toEqual([0, 2]);
    expect(expectedStart / video.timescale).toBeCloseTo(3, 1);
  });

  it('reads a 64-bit box size', () => {
    const payload = Buffer.from('hello');
    const box = Buffer.alloc(16 + payload.length);
    box.writeUInt32BE(1, 0);
    box.write('free', 4, 'latin1');
    box.writeBigUInt64BE(BigInt(box.length), 8);
    payload.copy(box, 16);
    const [read] = new BoxReader().push(box);
    expect(read?.type).toBe('free');
    expect(read?.headerSize).toBe(16);
    expect(Buffer.from(read?.bytes.subarray(read.headerSize) ?? []).toString()).toBe('hello');
  });

  it('rejects a box larger than the bound instead of buffering it', () => {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(64 * 1024 * 1024, 0);
    header.write('mdat', 4, 'latin1');
    expect(() => new BoxReader().push(header)).toThrow(BoxFormatError);
    const small = Buffer.alloc(8);
    small.writeUInt32BE(4, 0);
    small.write('mdat', 4, 'latin1');
    expect(() => new BoxReader().push(small)).toThrow(/impossible size/);
  });
});
