// The rendition gate on its own: packager events of two lanes in, what reaches the uploader out.
// (test/node/pipeline/hot-standby.test.ts runs it with real ffmpegs.)
import { describe, expect, it } from 'vitest';
import type {
  InitEvent,
  PackagerEvent,
  PartEvent,
  SegmentEvent,
} from '../../../containers/transcoder/src/cmaf/packager.ts';
import { RenditionGate } from '../../../containers/transcoder/src/standby/rendition-gate.ts';

const PARTS_PER_SEGMENT = 10;

function init(tag: string): InitEvent {
  return {
    kind: 'init',
    bytes: Buffer.from(`init-${tag}`),
    codecs: 'avc1.64001f',
    timescales: { video: 90_000 },
    hasVideo: true,
    hasAudio: false,
    discontinuity: false,
  };
}

/** Part `index` of a run that started at media time `startMs`; bytes depend on `tag` and position. */
function part(tag: string, msn: number, index: number, startMs = 0): PartEvent {
  return {
    kind: 'part',
    bytes: Buffer.from(`${tag}-${msn}.${index}`),
    msn,
    part: index,
    duration: 0.2,
    independent: index === 0,
    pdt: 1_000_000 + startMs + (msn * PARTS_PER_SEGMENT + index) * 200,
  };
}

function segment(msn: number, startMs = 0): SegmentEvent {
  return {
    kind: 'segment',
    bytes: Buffer.from(`segment-${msn}`),
    msn,
    duration: 2,
    parts: PARTS_PER_SEGMENT,
    pdt: 1_000_000 + startMs + msn * 2000,
  };
}

/** The events of one run from (msn, part) to (msn, part) exclusive, segments closed as they end. */
function run(tag: string, from: [number, number], to: [number, number], startMs = 0): PackagerEvent[] {
  const events: PackagerEvent[] = [];
  for (let msn = from[0]; msn <= to[0]; msn++) {
    const first = msn === from[0] ? from[1] : 0;
    const last = msn === to[0] ? to[1] : PARTS_PER_SEGMENT;
    for (let index = first; index < last; index++) events.push(part(tag, msn, index, startMs));
    if (last === PARTS_PER_SEGMENT) events.push(segment(msn, startMs));
  }
  return events;
}

function describeSent(sent: PackagerEvent[]): string[] {
  return sent.map((event) =>
    event.kind === 'init'
      ? `init:${event.bytes}`
      : event.kind === 'part'
        ? `${event.msn}.${event.part}`
        : `seg${event.msn}`,
  );
}

describe('rendition gate', () => {
  it('sends only the active lane and holds the standby, bounded to the current and previous segment', () => {
    const sent: PackagerEvent[] = [];
    const gate = new RenditionGate({ active: 0, send: (event) => sent.push(event) });
    gate.offer(0, init('same'));
    gate.offer(1, init('same'));
    for (const event of run('same', [0, 0], [5, 3])) {
      gate.offer(0, event);
      gate.offer(1, event);
    }
    expect(sent.filter((event) => event.kind === 'init')).toHaveLength(1);
    expect(sent.filter((event) => event.kind === 'part')).toHaveLength(53);
    // Segment 4 (10 parts + its segment event) and the 3 parts of segment 5.
    expect(gate.stats().heldEvents).toBe(14);
    expect(gate.stats().mismatched).toBe(0);
    expect(gate.stats().compared).toBe(53);
    expect(gate.standbyIdentical).toBe(true);
  });

  it('continues seamlessly from the first part not yet sent when the active dies behind the standby', () => {
    const sent: PackagerEvent[] = [];
    const gate = new RenditionGate({ active: 0, send: (event) => sent.push(event) });
    gate.offer(0, init('same'));
    gate.offer(1, init('same'));
    // The standby is ahead: it has 2.6 when the active dies at 2.2.
    for (const event of run('same', [0, 0], [2, 7])) gate.offer(1, event);
    for (const event of run('same', [0, 0], [2, 3])) gate.offer(0, event);
    sent.length = 0;
    gate.promote('seamless', () => {
      throw new Error('a seamless promotion does not close the dead run');
    });
    // Then the promoted lane goes on live; the dead lane's late events are held as standby's.
    for (const event of run('same', [2, 7], [3, 2])) gate.offer(1, event);
    gate.offer(0, part('same', 2, 3));
    expect(describeSent(sent)).toEqual([
      '2.3',
      '2.4',
      '2.5',
      '2.6',
      '2.7',
      '2.8',
      '2.9',
      'seg2',
      '3.0',
      '3.1',
    ]);
    expect(gate.activeLane).toBe(1);
  });

  it('splices a different standby after the open segment is closed: its init, then its next segment renumbered', () => {
    const sent: PackagerEvent[] = [];
    const gate = new RenditionGate({ active: 0, send: (event) => sent.push(event) });
    gate.offer(0, init('old'));
    for (const event of run('old', [0, 0], [4, 4])) gate.offer(0, event);
    // A standby restarted 3.1 s into the stream: its own numbering starts again at 0.
    gate.offer(1, init('new'));
    for (const event of run('new', [0, 0], [1, 2], 3100)) gate.offer(1, event);
    expect(gate.standbyIdentical).toBe(false);
    sent.length = 0;
    gate.promote('discontinuity', () => [segment(4)]);
    for (const event of run('new', [1, 2], [2, 1], 3100)) gate.offer(1, event);
    // Sent up to 4.3 (media to 1 000 000 + 8 800): the standby's segment 0 starts at 3 100, its
    // segment 1 at 5 100, 2 at 7 100, 3 at 9 100: the first after what was sent becomes msn 5.
    expect(describeSent(sent)).toEqual(['seg4']);
    for (const event of run('new', [2, 1], [3, 2], 3100)) gate.offer(1, event);
    expect(describeSent(sent)).toEqual(['seg4', 'init:init-new', '5.0', '5.1']);
  });

  describe("a dual publish's standby (promoteRemote)", () => {
    /** A gate holding lane 0 of a standby publish: segments 0 to 2 and parts 3.0 to 3.3 made. */
    function holding(): { gate: RenditionGate; sent: PackagerEvent[] } {
      const sent: PackagerEvent[] = [];
      const gate = new RenditionGate({ active: 1, send: (event) => sent.push(event) });
      gate.offer(0, init('backup'));
      for (const event of run('backup', [0, 0], [3, 4])) gate.offer(0, event);
      return { gate, sent };
    }

    it('sends nothing while it waits', () => {
      const { gate, sent } = holding();
      expect(sent).toEqual([]);
      expect(gate.stats().heldEvents).toBe(PARTS_PER_SEGMENT + 1 + 4);
    });

    it('goes on air from its segment that holds the end of the listed media, renumbered after the origin', () => {
      const { gate, sent } = holding();
      // The other node's media ended 0.5 s into segment 2 (by this node's clock, 30 ms off).
      gate.promoteRemote({ afterPdt: 1_000_000 + 2 * 2000 + 500 + 30, nextMsn: 40 });
      expect(describeSent(sent)).toEqual([
        'init:init-backup',
        ...Array.from({ length: PARTS_PER_SEGMENT }, (_, i) => `40.${i}`),
        'seg40',
        '41.0',
        '41.1',
        '41.2',
        '41.3',
      ]);
      gate.offer(0, part('backup', 3, 4));
      expect(describeSent(sent).at(-1)).toBe('41.4');
    });

    it("starts at the next segment when the listed media ended on its boundary, within the clocks' jitter", () => {
      const { gate, sent } = holding();
      gate.promoteRemote({ afterPdt: 1_000_000 + 3 * 2000 - 60, nextMsn: 40 });
      expect(describeSent(sent)).toEqual(['init:init-backup', '40.0', '40.1', '40.2', '40.3']);
    });

    it('starts at its first held segment when the listed media ended before it (it joined late)', () => {
      const { gate, sent } = holding();
      gate.promoteRemote({ afterPdt: 1_000_000 + 2 * 2000 - 500, nextMsn: 40 });
      expect(describeSent(sent)).toEqual([
        'init:init-backup',
        ...Array.from({ length: PARTS_PER_SEGMENT }, (_, i) => `40.${i}`),
        'seg40',
        '41.0',
        '41.1',
        '41.2',
        '41.3',
      ]);
    });

    it('waits for its first segment when it holds nothing yet', () => {
      const sent: PackagerEvent[] = [];
      const gate = new RenditionGate({ active: 1, send: (event) => sent.push(event) });
      gate.promoteRemote({ afterPdt: 1_000_000 + 900, nextMsn: 40 });
      gate.offer(0, init('backup'));
      for (const event of run('backup', [0, 5], [1, 1])) gate.offer(0, event);
      expect(describeSent(sent)).toEqual(['init:init-backup', '40.0']);
    });
  });

  describe('a publish on air that hands the air over (demote)', () => {
    it('holds its lane from then on and comes back with its init again, numbered by the origin even below what it had sent', () => {
      const sent: PackagerEvent[] = [];
      const gate = new RenditionGate({ active: 0, send: (event) => sent.push(event) });
      gate.offer(0, init('source'));
      // It sent through 4.2, but its uploads stalled: the origin listed only through 2.x.
      for (const event of run('source', [0, 0], [4, 3])) gate.offer(0, event);
      gate.demote();
      sent.length = 0;
      for (const event of run('source', [4, 3], [6, 2])) gate.offer(0, event);
      expect(sent).toEqual([]);
      // Handed back at msn 4 (what the origin lists next), from its held segment 5 that holds the cut.
      gate.promoteRemote({ afterPdt: 1_000_000 + 5 * 2000 + 300, nextMsn: 4 });
      expect(describeSent(sent)).toEqual([
        'init:init-source',
        ...Array.from({ length: PARTS_PER_SEGMENT }, (_, i) => `4.${i}`),
        'seg4',
        '5.0',
        '5.1',
      ]);
    });

    it('sends the init of a run that started while it waited rather than its old one', () => {
      const sent: PackagerEvent[] = [];
      const gate = new RenditionGate({ active: 0, send: (event) => sent.push(event) });
      gate.offer(0, init('first'));
      for (const event of run('first', [0, 0], [1, 2])) gate.offer(0, event);
      gate.demote();
      sent.length = 0;
      // Its ffmpeg restarted while it waited: a new init, a new run.
      gate.offer(0, init('restarted'));
      for (const event of run('restarted', [0, 0], [1, 1], 4000)) gate.offer(0, event);
      gate.promoteRemote({ afterPdt: 1_000_000 + 4000 + 100, nextMsn: 9 });
      expect(describeSent(sent)[0]).toBe('init:init-restarted');
      expect(describeSent(sent)[1]).toBe('9.0');
    });
  });
});
