// The pure VOD and clip logic, without I/O: box rewriting (tkhd version 1, a trun that overruns its
// box), clip planning around GAP rows, and DASH Periods when renditions restart independently.
import { describe, expect, it } from 'vitest';
import { type DashRun, getRunKey, planDashPeriods, renderDashManifest } from '../../media/dash/manifest.ts';
import type { VodRendition } from '../../media/hls/vod-playlist.ts';
import { readBoxes } from '../../media/mp4/boxes.ts';
import { readFragments } from '../../media/mp4/fragments.ts';
import { readInit } from '../../media/mp4/init.ts';
import { rewriteInit } from '../../media/mp4/rewrite.ts';
import type { RenditionInfo, SegmentRecord, VodSegment } from '../../protocol/media.ts';
import { planClip } from '../../workers/clips/clip-assembly.ts';
import { buildFragment, buildInit } from './vod-fixtures.ts';

function findBox(bytes: Uint8Array, path: string[]) {
  let found = readBoxes(bytes).find((b) => b.type === path[0]);
  for (const type of path.slice(1)) {
    if (!found) break;
    // moov, trak, moof, traf are plain containers: their children start at the payload.
    found = readBoxes(bytes, found.payload, found.start + found.size).find((b) => b.type === type);
  }
  if (!found) throw new Error(`no ${path.join('/')}`);
  return found;
}

/** The fixture init with its video tkhd rewritten as version 1 (64-bit times and duration). */
function buildInitWithV1Tkhd(): Uint8Array {
  const init = buildInit();
  const tkhd = findBox(init, ['moov', 'trak', 'tkhd']);
  const v0 = init.subarray(tkhd.payload, tkhd.start + tkhd.size);
  // v0: version/flags 4, creation 4, modification 4, track_ID 4, reserved 4, duration 4, rest.
  const v1 = new Uint8Array(v0.byteLength + 12);
  const data = new DataView(v1.buffer);
  data.setUint32(0, 0x01000007);
  data.setUint32(4 + 8 + 8, new DataView(v0.buffer, v0.byteOffset).getUint32(12)); // track_ID
  data.setUint32(4 + 8 + 8 + 4 + 4 + 4, 0xdead); // low half of a duration to be replaced
  v1.set(v0.subarray(24), 36);
  const box = new Uint8Array(8 + v1.byteLength);
  new DataView(box.buffer).setUint32(0, box.byteLength);
  box.set(new TextEncoder().encode('tkhd'), 4);
  box.set(v1, 8);
  // Splice the new tkhd in and grow every ancestor by the 12 bytes it gained.
  const out = new Uint8Array(init.byteLength + 12);
  out.set(init.subarray(0, tkhd.start), 0);
  out.set(box, tkhd.start);
  out.set(init.subarray(tkhd.start + tkhd.size), tkhd.start + box.byteLength);
  const view = new DataView(out.buffer);
  for (const ancestor of [findBox(init, ['moov']), findBox(init, ['moov', 'trak'])]) {
    view.setUint32(ancestor.start, view.getUint32(ancestor.start) + 12);
  }
  return out;
}

describe('box rewriting', () => {
  it('writes the duration of a version 1 tkhd at byte 28 of its payload, leaving the fields around it alone', () => {
    const init = buildInitWithV1Tkhd();
    const facts = readInit(init);
    expect(facts.tracks.map((t) => t.trackId)).toEqual([1, 2]);
    const movie = 2 ** 33 + 12_345;
    const rewritten = rewriteInit(init, { movie, tracks: new Map([[1, 90_000]]) });
    const tkhd = findBox(rewritten, ['moov', 'trak', 'tkhd']);
    const data = new DataView(rewritten.buffer, rewritten.byteOffset);
    expect(rewritten[tkhd.payload]).toBe(1);
    // 4 (version/flags) + 8 (creation) + 8 (modification) + 4 (track_ID) + 4 (reserved) = 28.
    expect(data.getUint32(tkhd.payload + 28) * 2 ** 32 + data.getUint32(tkhd.payload + 32)).toBe(movie);
    expect(data.getUint32(tkhd.payload + 20)).toBe(1);
    // The 8 bytes after the duration (reserved) stay zero.
    expect(data.getUint32(tkhd.payload + 36)).toBe(0);
    expect(data.getUint32(tkhd.payload + 40)).toBe(0);
    expect(readInit(rewritten).tracks.map((t) => t.trackId)).toEqual([1, 2]);
  });

  it('refuses a trun whose sample count runs past the end of its box', () => {
    const facts = readInit(buildInit());
    const fragment = buildFragment(1, 0);
    expect(readFragments(fragment, facts)).toHaveLength(1);
    const trun = findBox(fragment, ['moof', 'traf', 'trun']);
    // sample_count sits after version/flags.
    new DataView(fragment.buffer, fragment.byteOffset).setUint32(trun.payload + 4, 1_000_000);
    expect(() => readFragments(fragment, facts)).toThrow(/overruns/);
  });
});

function makeSegments(
  from: number,
  to: number,
  init: number,
  options: { gapAt?: number } = {},
): SegmentRecord[] {
  const segments: SegmentRecord[] = [];
  for (let msn = from; msn <= to; msn++) {
    segments.push({
      msn,
      duration: 2,
      pdt: 1_000_000 + msn * 2000,
      discontinuity: msn === from && from > 0,
      init,
      gap: msn === options.gapAt,
    });
  }
  return segments;
}

describe('clip planning', () => {
  it('never cuts a clip across a GAP row and starts a window inside one at the media after it', () => {
    const segments = makeSegments(0, 5, 1, { gapAt: 2 });
    const across = planClip(segments, 1_000_000 + 1000, 5);
    expect(across.ok).toBe(false);
    const inside = planClip(segments, 1_000_000 + 2 * 2000 + 500, 4);
    expect(inside.ok && inside.segments.map((s) => s.msn)).toEqual([3, 4]);
  });
});

function makeInfo(name: RenditionInfo['name'], height: number | null): RenditionInfo {
  return {
    name,
    codecs: height === null ? 'mp4a.40.2' : 'avc1.64001f,mp4a.40.2',
    bandwidth: 1000,
    averageBandwidth: 1000,
    width: height,
    height,
    frameRate: null,
  };
}

function toVod(segments: SegmentRecord[]): VodSegment[] {
  return segments.map(({ gap: _gap, ...segment }) => ({ ...segment, size: 100 }));
}

describe('DASH periods', () => {
  it('starts a Period where any rendition restarts, so each Representation has one init', () => {
    // The audio encoder restarted at msn 2 (a new init); the video went on with its first.
    const renditions: VodRendition[] = [
      { info: makeInfo('720p60', 720), segments: toVod(makeSegments(0, 3, 1)) },
      {
        info: makeInfo('audio', null),
        segments: toVod([...makeSegments(0, 1, 1), ...makeSegments(2, 3, 2)]),
      },
    ];
    const periods = planDashPeriods(renditions);
    expect(
      periods.map((p) => p.representations.map((r) => [r.rendition.info.name, r.segments.map((s) => s.msn)])),
    ).toEqual([
      [
        ['720p60', [0, 1]],
        ['audio', [0, 1]],
      ],
      [
        ['720p60', [2, 3]],
        ['audio', [2, 3]],
      ],
    ]);
    const muxed: DashRun = {
      tracks: [
        { trackId: 1, kind: 'video', codec: 'avc1.64001f', startTime: 0, audio: null },
        {
          trackId: 2,
          kind: 'audio',
          codec: 'mp4a.40.2',
          startTime: 0,
          audio: { sampleRate: 48_000, channels: 2 },
        },
      ],
    };
    const audioOnly: DashRun = {
      tracks: [{ ...(muxed.tracks[1] as DashRun['tracks'][number]), trackId: 1 }],
    };
    const runs = new Map([
      [getRunKey('720p60', 0), muxed],
      [getRunKey('720p60', 2), muxed],
      [getRunKey('audio', 0), audioOnly],
      [getRunKey('audio', 2), audioOnly],
    ]);
    const mpd = renderDashManifest({ renditions, runs });
    const secondPeriod = mpd.slice(mpd.indexOf('<Period id="p1"'));
    expect(secondPeriod).toContain('initialization="audio/init-2.mp4"');
    expect(secondPeriod).toContain('initialization="720p60/track-1/init-1.mp4"');
    expect(mpd).toContain('mediaPresentationDuration="PT8S"');
  });
});
