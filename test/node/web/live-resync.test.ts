// The player's rule for a viewer who fell behind the live edge without asking to
// (web/src/player/live-resync.ts): jump back only when following live, past hls.js's own
// catch-up range, and onto buffered media.
import { describe, expect, it } from 'vitest';
import {
  bufferedEndAt,
  type CushionInput,
  cushionRate,
  type LiveResyncInput,
  liveResyncTarget,
  type StallNudgeInput,
  stallNudgeTarget,
} from '../../../web/src/player/live-resync.ts';

/** A low-latency player 6 s behind: PART-HOLD-BACK 0.6 s, 2 s segments, buffered to the edge. */
const behind: LiveResyncInput = {
  following: true,
  paused: false,
  interstitial: false,
  latency: 6,
  targetLatency: 0.6,
  liveSyncPosition: 40,
  targetDuration: 2,
  bufferedEnd: 40.5,
};

describe('live resync', () => {
  it('moves a following viewer who is seconds behind to the live sync position', () => {
    expect(liveResyncTarget(behind)).toBe(40);
  });

  it('leaves a viewer within hls.js catch-up range alone (target + one target duration + 0.5 s)', () => {
    expect(liveResyncTarget({ ...behind, latency: 3.1 })).toBeNull();
    expect(liveResyncTarget({ ...behind, latency: 3.2 })).toBe(40);
    // Standard latency: three target durations behind is the target itself.
    expect(liveResyncTarget({ ...behind, targetLatency: 6, latency: 7.5 })).toBeNull();
  });

  it('keeps a viewer who rewound or paused where they are, and leaves an ad break alone', () => {
    expect(liveResyncTarget({ ...behind, following: false })).toBeNull();
    expect(liveResyncTarget({ ...behind, paused: true })).toBeNull();
    expect(liveResyncTarget({ ...behind, interstitial: true })).toBeNull();
  });

  it('does not jump into media that is not buffered yet (that would stall)', () => {
    expect(liveResyncTarget({ ...behind, bufferedEnd: 39 })).toBeNull();
  });

  it('does nothing before hls.js knows its target or the live sync position, or for a VOD', () => {
    expect(liveResyncTarget({ ...behind, targetLatency: null })).toBeNull();
    expect(liveResyncTarget({ ...behind, liveSyncPosition: null })).toBeNull();
    expect(liveResyncTarget({ ...behind, latency: Number.NaN })).toBeNull();
  });

  it('reads the end of the buffered range the playhead is in, and the playhead when it is in none', () => {
    const ranges = (...pairs: Array<[number, number]>) => ({
      length: pairs.length,
      start: (index: number) => pairs[index]?.[0] ?? Number.NaN,
      end: (index: number) => pairs[index]?.[1] ?? Number.NaN,
    });
    expect(bufferedEndAt({ currentTime: 12, buffered: ranges([0, 5], [10, 20], [21, 30]) })).toBe(20);
    // A playhead a hair before a range's start (a seek lands just short of it) is in that range.
    expect(bufferedEndAt({ currentTime: 9.95, buffered: ranges([10, 20]) })).toBe(20);
    expect(bufferedEndAt({ currentTime: 7, buffered: ranges([0, 5], [10, 20]) })).toBe(7);
    expect(bufferedEndAt({ currentTime: 3, buffered: ranges() })).toBe(3);
  });
});

/** Stuck at a discontinuity's splice: the playhead 0.04 s short of it, 0.4 s of new media buffered. */
const stuckAtSplice: StallNudgeInput = {
  started: true,
  paused: false,
  seeking: false,
  interstitial: false,
  stuckMs: 300,
  nudges: 0,
  currentTime: 10.55,
  bufferedEnd: 10.96,
};

describe('stall nudge', () => {
  it('moves a playhead that stood still 250 ms with 0.2 s or more buffered ahead 0.1 s forward', () => {
    expect(stallNudgeTarget(stuckAtSplice)).toBeCloseTo(10.65, 6);
    expect(stallNudgeTarget({ ...stuckAtSplice, stuckMs: 250, bufferedEnd: 10.76 })).toBeCloseTo(10.65, 6);
  });

  it('leaves a playhead waiting at the end of its buffer alone: only new media can help it', () => {
    expect(stallNudgeTarget({ ...stuckAtSplice, bufferedEnd: 10.74 })).toBeNull();
    expect(stallNudgeTarget({ ...stuckAtSplice, bufferedEnd: 10.55 })).toBeNull();
  });

  it('waits 250 ms: a playhead that resumes on its own is never moved', () => {
    expect(stallNudgeTarget({ ...stuckAtSplice, stuckMs: 249 })).toBeNull();
  });

  it('never moves a paused, seeking or not yet started player, nor one playing an ad break', () => {
    expect(stallNudgeTarget({ ...stuckAtSplice, paused: true })).toBeNull();
    expect(stallNudgeTarget({ ...stuckAtSplice, seeking: true })).toBeNull();
    expect(stallNudgeTarget({ ...stuckAtSplice, started: false })).toBeNull();
    expect(stallNudgeTarget({ ...stuckAtSplice, interstitial: true })).toBeNull();
  });

  it('gives up after two nudges that did not get the playhead playing: the stall is something else', () => {
    expect(stallNudgeTarget({ ...stuckAtSplice, nudges: 1 })).toBeCloseTo(10.65, 6);
    expect(stallNudgeTarget({ ...stuckAtSplice, nudges: 2 })).toBeNull();
  });
});

/** A viewer following live who has just ridden out a stall: 0.3 s buffered, not slowed yet. */
const thin: CushionInput = {
  following: true,
  paused: false,
  seeking: false,
  interstitial: false,
  bufferAhead: 0.3,
  slowed: false,
};

describe('thin-buffer cushion', () => {
  it('slows a following viewer with less than 0.6 s buffered to 0.9x', () => {
    expect(cushionRate(thin)).toBe(0.9);
    expect(cushionRate({ ...thin, bufferAhead: 0.59 })).toBe(0.9);
  });

  it('leaves a viewer with the buffer a joining viewer settles at to hls.js', () => {
    expect(cushionRate({ ...thin, bufferAhead: 0.6 })).toBeNull();
    expect(cushionRate({ ...thin, bufferAhead: 0.95 })).toBeNull();
  });

  it('keeps a slowed viewer slowed until 1 s is buffered, then gives the rate back', () => {
    expect(cushionRate({ ...thin, bufferAhead: 0.8, slowed: true })).toBe(0.9);
    expect(cushionRate({ ...thin, bufferAhead: 0.99, slowed: true })).toBe(0.9);
    expect(cushionRate({ ...thin, bufferAhead: 1, slowed: true })).toBeNull();
  });

  it('does nothing for a viewer who rewound or paused, after the stream ended, or during an ad break', () => {
    expect(cushionRate({ ...thin, following: false })).toBeNull();
    expect(cushionRate({ ...thin, following: false, slowed: true })).toBeNull();
    expect(cushionRate({ ...thin, paused: true })).toBeNull();
    expect(cushionRate({ ...thin, interstitial: true })).toBeNull();
    expect(cushionRate({ ...thin, interstitial: true, slowed: true })).toBeNull();
  });

  it("holds through the player's own seeks (a nudge, a resync) and starts on none", () => {
    expect(cushionRate({ ...thin, seeking: true, slowed: true, bufferAhead: 0.7 })).toBe(0.9);
    expect(cushionRate({ ...thin, seeking: true, slowed: true, bufferAhead: 0 })).toBe(0.9);
    expect(cushionRate({ ...thin, seeking: true })).toBeNull();
  });
});
