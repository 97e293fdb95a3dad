// Which ladders get a hot standby: both lanes encode on one thread each (bit-identical output), so
// only a ladder that fits about one core may have one (standby-budget.ts).
import { describe, expect, it } from 'vitest';
import { planLadder, type SourceInfo } from '../../../containers/transcoder/src/ffmpeg/ladder.ts';
import {
  countEncodedPixelRate,
  MAX_STANDBY_ENCODED_PIXEL_RATE,
} from '../../../containers/transcoder/src/standby/standby-budget.ts';

const IDLE = { activeEncodes: 0, maxEncodes: 16 };

function source(width: number, height: number, fps: number): SourceInfo {
  return {
    width,
    height,
    fps,
    videoCodec: 'avc',
    audioCodec: 'aac',
    keyframeIntervalMs: 2000,
    videoBitrate: 4_000_000,
  };
}

describe('hot standby and the ladder it would encode on one thread', () => {
  it('admits the 720p30 partner ladder and refuses a 1080p60 one', () => {
    const hd = planLadder({ tier: 'partner', source: source(1280, 720, 30), capacity: IDLE });
    const fullHd = planLadder({ tier: 'partner', source: source(1920, 1080, 60), capacity: IDLE });
    expect(countEncodedPixelRate(hd)).toBeLessThanOrEqual(MAX_STANDBY_ENCODED_PIXEL_RATE);
    expect(countEncodedPixelRate(fullHd)).toBeGreaterThan(MAX_STANDBY_ENCODED_PIXEL_RATE);
  });

  it('counts encoded video only: a copied source and the audio cost nothing', () => {
    const plan = planLadder({ tier: 'partner', source: source(1280, 720, 30), capacity: IDLE });
    const encoded = plan.renditions.filter((r) => r.kind === 'video' && r.videoMode === 'encode');
    expect(plan.renditions.some((r) => r.kind === 'video' && r.videoMode === 'copy')).toBe(true);
    expect(countEncodedPixelRate(plan)).toBe(
      encoded.reduce((sum, r) => sum + (r.kind === 'video' ? r.width * r.height * r.fps : 0), 0),
    );
  });
});
