// The pure LL-HLS logic of media/hls/, in Node: timelines, blocking decisions, skip and DVR
// arithmetic. The same code runs in the LiveStream object (workerd).
import { describe, expect, it } from 'vitest';
import {
  canAwaitPart,
  decideBlockingReload,
  getAdvancePartLimit,
  isPositionListed,
} from '../../../media/hls/blocking-reload.ts';
import {
  countSkippableSegments,
  getPartHoldBack,
  renderMediaPlaylist,
} from '../../../media/hls/live-playlist.ts';
import { orderVariants } from '../../../media/hls/multivariant-playlist.ts';
import {
  applyInit,
  applyPart,
  applySegment,
  createTimeline,
  fillGapTo,
  planSeal,
  type Timeline,
  trimToDvrWindow,
} from '../../../media/hls/timeline.ts';
import { parseMediaFileName } from '../../../media/live-keys.ts';
import type { RenditionInfo } from '../../../protocol/media.ts';

function makeInfo(name: RenditionInfo['name'], bandwidth: number, height: number | null): RenditionInfo {
  return {
    name,
    codecs: 'avc1.64001f',
    bandwidth,
    averageBandwidth: bandwidth,
    width: height,
    height,
    frameRate: 30,
  };
}

/** A timeline with `segments` finished segments of 10 parts of 0.2 s and `openParts` parts after them. */
function makeTimeline(segments: number, openParts = 0, partTarget = 0.2): Timeline {
  const timeline = createTimeline(makeInfo('source', 1_000_000, 720), partTarget);
  applyInit(timeline, timeline.info, 1);
  const partsPerSegment = Math.round(2 / partTarget);
  for (let msn = 0; msn < segments; msn++) {
    for (let part = 0; part < partsPerSegment; part++) {
      applyPart(timeline, {
        msn,
        part,
        duration: partTarget,
        independent: part === 0,
        pdt: msn * 2000 + part * 200,
        publish: 0,
      });
    }
    applySegment(timeline, { msn, duration: partsPerSegment * partTarget, pdt: msn * 2000 });
  }
  for (let part = 0; part < openParts; part++) {
    applyPart(timeline, {
      msn: segments,
      part,
      duration: partTarget,
      independent: part === 0,
      pdt: segments * 2000,
      publish: 0,
    });
  }
  return timeline;
}

describe('blocking reload decisions', () => {
  it('answers when no directive is given and when the position is already listed', () => {
    const timeline = makeTimeline(3, 2);
    expect(decideBlockingReload(timeline, {}, false)).toEqual({ kind: 'answer' });
    expect(decideBlockingReload(timeline, { msn: 2 }, false)).toEqual({ kind: 'answer' });
    expect(decideBlockingReload(timeline, { msn: 3, part: 1 }, false)).toEqual({ kind: 'answer' });
  });

  it('waits for the next segment, the next part, and part 0 behind a finished segment', () => {
    const timeline = makeTimeline(3, 2);
    expect(decideBlockingReload(timeline, { msn: 3 }, false)).toEqual({
      kind: 'wait',
      msn: 3,
      part: undefined,
    });
    expect(decideBlockingReload(timeline, { msn: 3, part: 2 }, false)).toEqual({
      kind: 'wait',
      msn: 3,
      part: 2,
    });
    const finished = makeTimeline(3);
    expect(isPositionListed(finished, 2, 10)).toBe(false);
    applyPart(finished, { msn: 3, part: 0, duration: 0.2, independent: true, pdt: 6000, publish: 0 });
    expect(isPositionListed(finished, 2, 10)).toBe(true);
  });

  it('refuses a part without an msn, an msn beyond last + 2 and a part beyond the advance limit', () => {
    const timeline = makeTimeline(3, 0);
    expect(decideBlockingReload(timeline, { part: 0 }, false).kind).toBe('bad-request');
    expect(decideBlockingReload(timeline, { msn: 4 }, false).kind).toBe('wait');
    expect(decideBlockingReload(timeline, { msn: 5 }, false).kind).toBe('bad-request');
    // Last listed part is 2.9 (index 29); the limit is 15 parts ahead: 4.4 (index 44) is fine, 4.5 is not.
    expect(decideBlockingReload(timeline, { msn: 4, part: 4 }, false).kind).toBe('wait');
    expect(decideBlockingReload(timeline, { msn: 4, part: 5 }, false).kind).toBe('bad-request');
  });

  it('ignores every directive once the playlist has ended', () => {
    expect(decideBlockingReload(makeTimeline(1), { msn: 99, part: 3 }, true)).toEqual({ kind: 'answer' });
    expect(decideBlockingReload(makeTimeline(1), { part: 3 }, true).kind).toBe('bad-request');
  });

  it('derives the advance part limit from the part target', () => {
    expect(getAdvancePartLimit(0.2)).toBe(15);
    expect(getAdvancePartLimit(0.21333)).toBe(15);
    expect(getAdvancePartLimit(1.5)).toBe(3);
  });

  it('lets requests for parts up to the advance limit wait, and no others', () => {
    const timeline = makeTimeline(2, 1);
    expect(canAwaitPart(timeline, 2, 1)).toBe(true);
    expect(canAwaitPart(timeline, 3, 5)).toBe(true);
    expect(canAwaitPart(timeline, 3, 6)).toBe(false);
    expect(canAwaitPart(timeline, 1, 3)).toBe(false);
  });
});

describe('timeline transitions', () => {
  it('lists a segment only when every earlier one is finished', () => {
    const timeline = makeTimeline(1);
    expect(applySegment(timeline, { msn: 2, duration: 2, pdt: 4000 })).toEqual([]);
    const listed = applySegment(timeline, { msn: 1, duration: 2, pdt: 2000 });
    expect(listed.map((s) => s.msn)).toEqual([1, 2]);
    expect(timeline.nextMsn).toBe(3);
  });

  it('lists only the unbroken run of parts of a segment whose later parts were shed', () => {
    const timeline = makeTimeline(1);
    for (const part of [0, 1, 3])
      applyPart(timeline, { msn: 1, part, duration: 0.2, independent: part === 0, pdt: 0, publish: 0 });
    const [segment] = applySegment(timeline, { msn: 1, duration: 2, pdt: 2000 });
    expect(segment?.parts.map((p) => p.part)).toEqual([0, 1]);
    // A request for 1.2 now means part 0 of segment 2.
    expect(isPositionListed(timeline, 1, 2)).toBe(false);
    applyPart(timeline, { msn: 2, part: 0, duration: 0.2, independent: true, pdt: 4000, publish: 0 });
    expect(isPositionListed(timeline, 1, 2)).toBe(true);
  });

  it('seals the unbroken run of parts a departed publisher left', () => {
    const timeline = makeTimeline(1, 3);
    applyPart(timeline, { msn: 1, part: 5, duration: 0.2, independent: false, pdt: 0, publish: 0 });
    const plan = planSeal(timeline);
    expect(plan.map((p) => [p.msn, p.parts.length])).toEqual([[1, 3]]);
  });

  it('marks the segment after a new init as a discontinuity', () => {
    const timeline = makeTimeline(1);
    applyInit(timeline, timeline.info, 2);
    applyPart(timeline, { msn: 1, part: 0, duration: 0.2, independent: true, pdt: 0, publish: 0 });
    const [segment] = applySegment(timeline, { msn: 1, duration: 0.2, pdt: 0 });
    expect(segment).toMatchObject({ discontinuity: true, init: 2 });
  });

  it('fills a rendition that fell behind with GAP segments up to the shared msn', () => {
    const timeline = makeTimeline(2);
    const gaps = fillGapTo(timeline, 4, 10_000);
    expect(gaps.map((g) => [g.msn, g.gap])).toEqual([
      [2, true],
      [3, true],
    ]);
    expect(timeline.nextMsn).toBe(4);
    const body = renderMediaPlaylist({
      streamId: 's',
      rendition: 'source',
      timeline,
      others: [],
      ended: false,
      skip: false,
      publish: 0,
    });
    expect(body.match(/#EXT-X-GAP/g)).toHaveLength(2);
  });

  it('gives GAP segments a target duration on the clock of the segment before, and marks only the first real segment after them as a discontinuity', () => {
    const timeline = makeTimeline(2);
    const gaps = fillGapTo(timeline, 5, 99_999_999);
    // "EXT-X-GAP ... stands in for a whole segment": TARGETDURATION long, dated where the last ended.
    expect(gaps.map((g) => [g.msn, g.duration, g.pdt, g.discontinuity])).toEqual([
      [2, 2, 4000, false],
      [3, 2, 6000, false],
      [4, 2, 8000, false],
    ]);
    for (let part = 0; part < 10; part++) {
      applyPart(timeline, {
        msn: 5,
        part,
        duration: 0.2,
        independent: part === 0,
        pdt: 50_000 + part * 200,
        publish: 1,
      });
    }
    applySegment(timeline, { msn: 5, duration: 2, pdt: 50_000 });
    const body = renderMediaPlaylist({
      streamId: 's',
      rendition: 'source',
      timeline,
      others: [],
      ended: false,
      skip: false,
      publish: 1,
    });
    const lines = body.split('\n');
    expect(lines.filter((line) => line === '#EXT-X-DISCONTINUITY')).toHaveLength(1);
    // The one discontinuity sits right before the resumed segment, which carries its own date.
    const resumed = lines.indexOf('s/source/5.m4s');
    const tagAt = lines.lastIndexOf('#EXT-X-DISCONTINUITY', resumed);
    expect(lines.slice(tagAt, resumed)).toContain(
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(50_000).toISOString()}`,
    );
    expect(
      lines
        .slice(tagAt, resumed)
        .some((line) => line.startsWith('#EXT-X-PART:') && line.includes('5.0-1.m4s')),
    ).toBe(true);
    // Each GAP keeps the EXTINF of a whole segment.
    const gapAt = lines.indexOf('#EXT-X-GAP');
    expect(lines[gapAt + 1]).toBe('#EXTINF:2.00000,');
  });

  it('keeps the DVR window and never less than three target durations', () => {
    const long = makeTimeline(20);
    trimToDvrWindow(long, 10);
    expect(long.segments.map((s) => s.msn)).toEqual([15, 16, 17, 18, 19]);
    const short = makeTimeline(5);
    trimToDvrWindow(short, 1);
    expect(short.segments).toHaveLength(3);
  });
});

describe('playlist arithmetic', () => {
  it('skips only segments that start more than CAN-SKIP-UNTIL before the end', () => {
    expect(countSkippableSegments(makeTimeline(6).segments)).toBe(0);
    expect(countSkippableSegments(makeTimeline(7).segments)).toBe(1);
    expect(countSkippableSegments(makeTimeline(10).segments)).toBe(4);
  });

  it('prints a PART-HOLD-BACK that is never below three part targets', () => {
    for (const target of [0.2, 10_240 / 48_000, 0.33334, 0.5]) {
      expect(getPartHoldBack(target)).toBeGreaterThanOrEqual(3 * target - 1e-12);
    }
    const audio = renderMediaPlaylist({
      streamId: 's',
      rendition: 'audio',
      timeline: makeTimeline(1, 1, 10_240 / 48_000),
      others: [],
      ended: false,
      skip: false,
      publish: 0,
    });
    expect(audio).toContain('#EXT-X-PART-INF:PART-TARGET=0.21333\n');
    expect(audio).toContain('PART-HOLD-BACK=0.64,');
  });

  it('puts the middle video rendition first and audio last', () => {
    const order = orderVariants([
      makeInfo('audio', 128_000, null),
      makeInfo('360p30', 900_000, 360),
      makeInfo('source', 6_000_000, 1080),
      makeInfo('720p60', 3_000_000, 720),
      makeInfo('480p30', 1_500_000, 480),
    ]).map((r) => r.name);
    expect(order).toEqual(['480p30', 'source', '720p60', '360p30', 'audio']);
  });

  it('parses media file names', () => {
    expect(parseMediaFileName('init-3.mp4')).toEqual({ kind: 'init', init: 3 });
    expect(parseMediaFileName('12.m4s')).toEqual({ kind: 'segment', msn: 12 });
    expect(parseMediaFileName('12.4.m4s')).toEqual({ kind: 'part', msn: 12, part: 4, publish: 0 });
    expect(parseMediaFileName('12.4-2.m4s')).toEqual({ kind: 'part', msn: 12, part: 4, publish: 2 });
    expect(parseMediaFileName('12.ts')).toBeNull();
  });

  it('reads only the canonical spelling of a media file name', () => {
    for (const name of ['012.4.m4s', '12.04.m4s', '12.4-0.m4s', '12.4-02.m4s', '012.m4s', 'init-03.mp4'])
      expect(parseMediaFileName(name), name).toBeNull();
  });
});
