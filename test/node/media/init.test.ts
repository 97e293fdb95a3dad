// The whole-buffer side of the one ISO-BMFF reader (what the Worker uses for VODs and clips), on
// real ffmpeg output: codecs come from the sample entry and its esds, fragments tile the timeline,
// and a segment's head dates it. Before media/ the Worker had its own reader that assumed AAC-LC.
import { beforeAll, describe, expect, it } from 'vitest';
import { BoxReader, readBoxes } from '../../../media/mp4/boxes.ts';
import {
  getFragmentSeconds,
  readFirstMediaTime,
  readFragments,
  readMoof,
} from '../../../media/mp4/fragments.ts';
import { readInit } from '../../../media/mp4/init.ts';
import { makeFragmentedMp4, runMediaTool } from '../ffmpeg/media-fixtures.ts';

/** One second of a sine tone as fragmented MP4, AAC with the given ffmpeg profile. */
async function makeAudioMp4(profile: 'aac_low' | 'aac_main'): Promise<Buffer> {
  const result = await runMediaTool('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000:duration=1',
    '-c:a',
    'aac',
    '-profile:a',
    profile,
    '-f',
    'mp4',
    '-movflags',
    '+cmaf+frag_keyframe',
    '-frag_duration',
    '200000',
    'pipe:1',
  ]);
  if (result.code !== 0) throw new Error(`ffmpeg could not make the audio fMP4: ${result.stderr}`);
  return result.stdout;
}

describe('ISO-BMFF init and fragment facts on whole buffers', () => {
  let video: Buffer;

  beforeAll(async () => {
    video = await makeFragmentedMp4({ seconds: 3, profile: 'high' });
  });

  it('reads the AAC object type from the esds instead of assuming AAC-LC', async () => {
    const [main, low] = await Promise.all([makeAudioMp4('aac_main'), makeAudioMp4('aac_low')]);
    expect(readInit(main).tracks.map((t) => t.codec)).toEqual(['mp4a.40.1']);
    expect(readInit(low).tracks.map((t) => t.codec)).toEqual(['mp4a.40.2']);
    expect(readInit(low).tracks[0]?.width).toBeNull();
  });

  it('reads the video size, codecs and movie timescale of an init segment', () => {
    const init = readInit(video);
    expect(init.movieTimescale).toBeGreaterThan(0);
    const [first, second] = init.tracks;
    expect(first).toMatchObject({ handler: 'vide', width: 320, height: 180 });
    expect(first?.codec).toMatch(/^avc1\.64[0-9a-f]{4}$/);
    expect(second).toMatchObject({ handler: 'soun', codec: 'mp4a.40.2', timescale: 48_000 });
  });

  it('finds the same fragments in a whole file as the packager does on a pipe', () => {
    const init = readInit(video);
    const whole = readFragments(video, init);
    const piped = new BoxReader()
      .push(video)
      .filter((box) => box.type === 'moof')
      .map((moof) => readMoof(moof.bytes, moof, init));
    expect(whole.map((f) => f.trafs)).toEqual(
      piped.map((f) => f.trafs.map((t) => ({ ...t, tfdt: expect.any(Number) }))),
    );
    // Every fragment spans its moof and the mdat after it; the last one also takes the trailer
    // (mfra) ffmpeg writes after it.
    const boxes = readBoxes(video);
    const mdatEnds = boxes.filter((b) => b.type === 'mdat').map((b) => b.start + b.size);
    expect(whole.slice(0, -1).map((f) => f.end)).toEqual(mdatEnds.slice(0, -1));
    expect(whole.at(-1)?.end).toBe(video.byteLength);
    const seconds = whole.reduce((sum, f) => sum + getFragmentSeconds(f, init), 0);
    expect(seconds).toBeCloseTo(3, 1);
  });

  it("dates a segment from its head alone, without the rest of the segment's boxes", () => {
    const init = readInit(video);
    const fragments = readFragments(video, init);
    const second = fragments[5];
    if (second === undefined) throw new Error('too few fragments');
    // The head of the file from the sixth moof on, cut mid-mdat.
    const head = video.subarray(second.start, second.start + (second.end - second.start) - 10);
    const expected = (second.trafs[0]?.baseMediaDecodeTime ?? 0) / (init.tracks[0]?.timescale ?? 1);
    expect(readFirstMediaTime(head, init)).toBeCloseTo(expected, 6);
    expect(expected).toBeGreaterThan(0.9);
    expect(readFirstMediaTime(head.subarray(0, 20), init)).toBeNull();
  });
});
