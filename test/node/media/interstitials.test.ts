// Ad breaks as HLS interstitials (media/hls/interstitials.ts): the DATERANGE each break renders,
// and which breaks a playlist still lists (those whose range reaches its window).
import { describe, expect, it } from 'vitest';
import { INTERSTITIAL_CLASS, renderInterstitials } from '../../../media/hls/interstitials.ts';

const START = Date.parse('2026-12-02T20:00:00.000Z');
const ad = (id: string, startMs: number, durationSeconds: number) => ({
  id,
  startMs,
  durationSeconds,
  assetListUri: `/api/v1/payments/ad-breaks/${id}/asset-list`,
});

describe('HLS interstitials', () => {
  it('renders a break as a DATERANGE of the interstitial class with its asset list and restrictions', () => {
    expect(renderInterstitials([ad('a', START, 30)], START - 10_000)).toEqual([
      `#EXT-X-DATERANGE:ID="ad-a",CLASS="${INTERSTITIAL_CLASS}",START-DATE="2026-12-02T20:00:00.000Z",DURATION=30,` +
        'X-ASSET-LIST="/api/v1/payments/ad-breaks/a/asset-list",X-RESTRICT="SKIP,JUMP"',
    ]);
  });

  it('lists a break while its range reaches the window, and drops it once the window starts after its end', () => {
    const breaks = [ad('old', START, 30), ad('new', START + 60_000, 60)];
    expect(renderInterstitials(breaks, START + 30_000)).toHaveLength(2);
    expect(renderInterstitials(breaks, START + 30_001).map((line) => line.slice(0, 30))).toEqual([
      '#EXT-X-DATERANGE:ID="ad-new",C',
    ]);
    expect(renderInterstitials(breaks, START + 120_001)).toEqual([]);
  });
});
