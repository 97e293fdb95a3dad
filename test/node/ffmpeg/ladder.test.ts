import { describe, expect, it } from 'vitest';
import {
  canPassThrough,
  DEFAULT_SOURCE_BITRATE,
  describeSource,
  planLadder,
  type SourceInfo,
} from '../../../containers/transcoder/src/ffmpeg/ladder.ts';
import { makeFlvSource, muxFlvMessages } from './media-fixtures.ts';

const OBS_1080P60: SourceInfo = {
  width: 1920,
  height: 1080,
  fps: 60,
  videoCodec: 'avc',
  audioCodec: 'aac',
  keyframeIntervalMs: 2000,
  videoBitrate: 6_000_000,
};
const IDLE = { activeEncodes: 0, maxEncodes: 16 };

function namesOf(plan: ReturnType<typeof planLadder>): string[] {
  return plan.renditions.map((rendition) => rendition.name);
}

describe('ladder planning', () => {
  it('gives partners the full ladder over a passthrough source', () => {
    const plan = planLadder({ tier: 'partner', source: OBS_1080P60, capacity: IDLE });
    expect(namesOf(plan)).toEqual(['source', '720p60', '480p30', '360p30', '160p30', 'audio']);
    const [source, hd] = plan.renditions;
    expect(source?.kind === 'video' && source.videoMode).toBe('copy');
    expect(source?.kind === 'video' && source.videoBitrate).toBe(6_000_000);
    expect(hd?.kind === 'video' && [hd.width, hd.height, hd.fps, hd.videoBitrate]).toEqual([
      1280, 720, 60, 3_000_000,
    ]);
    const low = plan.renditions[3];
    expect(low?.kind === 'video' && [low.width, low.height, low.fps, low.videoBitrate]).toEqual([
      640, 360, 30, 800_000,
    ]);
    expect(plan.encodes).toBe(4);
    expect(plan.droppedForLoad).toEqual([]);
  });

  it('gives affiliates source, 480p30 and audio, and everyone else source and audio', () => {
    expect(namesOf(planLadder({ tier: 'affiliate', source: OBS_1080P60, capacity: IDLE }))).toEqual([
      'source',
      '480p30',
      'audio',
    ]);
    expect(namesOf(planLadder({ tier: 'none', source: OBS_1080P60, capacity: IDLE }))).toEqual([
      'source',
      'audio',
    ]);
  });

  it('never upscales: rungs taller than the source go, and no rung runs faster than the source', () => {
    const source: SourceInfo = { ...OBS_1080P60, width: 854, height: 480, fps: 24 };
    const plan = planLadder({ tier: 'partner', source, capacity: IDLE });
    expect(namesOf(plan)).toEqual(['source', '480p30', '360p30', '160p30', 'audio']);
    for (const rendition of plan.renditions) {
      if (rendition.kind === 'video') {
        expect(rendition.height).toBeLessThanOrEqual(480);
        expect(rendition.fps).toBeLessThanOrEqual(24);
      }
    }
  });

  it('re-encodes a source whose GOP is not 2 s or whose codecs are not H.264/AAC, capping it at 60 fps', () => {
    // OBS's 2 s keyint at 29.97 fps: 60 frames, 2002 or 2003 ms in FLV timestamps.
    expect(canPassThrough({ ...OBS_1080P60, keyframeIntervalMs: 2003 })).toBe(true);
    expect(canPassThrough({ ...OBS_1080P60, keyframeIntervalMs: 1990 })).toBe(true);
    // A 2.15 s GOP would drift a segment behind the 2 s grid of the other renditions every ~29 s.
    expect(canPassThrough({ ...OBS_1080P60, keyframeIntervalMs: 2150 })).toBe(false);
    expect(canPassThrough({ ...OBS_1080P60, keyframeIntervalMs: 2300 })).toBe(false);
    expect(canPassThrough({ ...OBS_1080P60, keyframeIntervalMs: null })).toBe(false);
    expect(canPassThrough({ ...OBS_1080P60, audioCodec: 'mp3' })).toBe(false);
    expect(canPassThrough({ ...OBS_1080P60, videoCodec: 'hevc' })).toBe(false);

    const plan = planLadder({
      tier: 'none',
      source: { ...OBS_1080P60, fps: 120, keyframeIntervalMs: 4000, audioCodec: 'mp3' },
      capacity: IDLE,
    });
    const [source] = plan.renditions;
    expect(source?.kind === 'video' && [source.videoMode, source.fps, source.width, source.height]).toEqual([
      'encode',
      60,
      1920,
      1080,
    ]);
    expect(source?.kind === 'video' && source.audioMode).toBe('encode');
    expect(plan.encodes).toBe(1);
  });

  it('sheds the costliest encoded rungs under load instead of failing, never below source and audio', () => {
    const halfFull = planLadder({
      tier: 'partner',
      source: OBS_1080P60,
      capacity: { activeEncodes: 14, maxEncodes: 16 },
    });
    expect(namesOf(halfFull)).toEqual(['source', '360p30', '160p30', 'audio']);
    expect(halfFull.droppedForLoad).toEqual(['720p60', '480p30']);

    const full = planLadder({
      tier: 'partner',
      source: OBS_1080P60,
      capacity: { activeEncodes: 16, maxEncodes: 16 },
    });
    expect(namesOf(full)).toEqual(['source', 'audio']);
    expect(full.encodes).toBe(0);

    const overloaded = planLadder({
      tier: 'affiliate',
      source: { ...OBS_1080P60, keyframeIntervalMs: 8000 },
      capacity: { activeEncodes: 20, maxEncodes: 16 },
    });
    // The re-encoded source takes the last encode slot even on a full host.
    expect(namesOf(overloaded)).toEqual(['source', 'audio']);
    expect(overloaded.droppedForLoad).toEqual(['480p30']);
  });

  it('leaves out the audio rendition when the source has no audio', () => {
    const plan = planLadder({
      tier: 'partner',
      source: { ...OBS_1080P60, audioCodec: null },
      capacity: IDLE,
    });
    expect(namesOf(plan)).not.toContain('audio');
    expect(
      plan.renditions.every((rendition) => rendition.kind === 'video' && rendition.audioMode === 'none'),
    ).toBe(true);
  });

  it('passes through an ffmpeg-published H.264 source with a 2 s GOP, at the bitrate it announced', async () => {
    // What the RTMP session learns from a real publisher, through the same mapping the pipeline uses.
    const flv = await makeFlvSource({ seconds: 4.5, width: 320, height: 180, videoBitrate: '700k' });
    const source = describeSource(muxFlvMessages(flv).stats);
    expect(source).toMatchObject({ videoCodec: 'avc', audioCodec: 'aac', width: 320, height: 180, fps: 30 });
    const plan = planLadder({ tier: 'none', source, capacity: IDLE });
    const [top] = plan.renditions;
    expect(top?.kind === 'video' && top.videoMode).toBe('copy');
    expect(plan.encodes).toBe(0);
    const bitrate = top?.kind === 'video' ? top.videoBitrate : 0;
    expect(bitrate).not.toBe(DEFAULT_SOURCE_BITRATE);
    expect(bitrate).toBeGreaterThan(650_000);
    expect(bitrate).toBeLessThanOrEqual(700_000);
  });

  it('re-encodes a small source without onMetaData at its own size, found in the SPS, not 720p', async () => {
    const flv = await makeFlvSource({ seconds: 2.5, width: 256, height: 144, gopSeconds: 4 });
    const source = describeSource(muxFlvMessages(flv, { withoutMetadata: true }).stats);
    const plan = planLadder({ tier: 'partner', source, capacity: IDLE });
    const [top] = plan.renditions;
    expect(top?.kind === 'video' && [top.videoMode, top.width, top.height]).toEqual(['encode', 256, 144]);
    expect(namesOf(plan)).toEqual(['source', 'audio']);
  });
});
