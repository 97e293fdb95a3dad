// Decides, for one rendition, which of a stream's two transcodes (lanes) reaches the uploader: the
// active lane's events go out as they come; the standby lane's are held (bounded) and compared with
// the active's, byte for byte by hash, position by position. When the active lane dies, promote()
// continues the upload from the standby at the first part not yet sent:
// - identical outputs (both lanes started on the same source tag and every part compared so far had
//   the same hash): the same msn/part sequence goes on, no new init, no discontinuity;
// - otherwise: the old active's open segment is closed as it is, the standby's init goes out (the
//   origin marks the next segment EXT-X-DISCONTINUITY), and the standby's parts follow from the
//   first of its segments that starts after what was sent, renumbered to the next msn.
// Knows nothing of ffmpeg or HTTP: packager events in, upload items out.
import { createHash } from 'node:crypto';
import type { PackagerEvent, PartEvent, SegmentEvent } from '../cmaf/packager.ts';

export type LaneId = 0 | 1;

/** Parts of the active lane remembered for comparison: two 2 s segments of 200 ms parts, with room. */
const ACTIVE_HASHES_KEPT = 40;
/** A standby part starting this close before the end of what was sent still counts as after it. */
const SPLICE_TOLERANCE_MS = 5;
/**
 * The same for a dual publish's standby on another node, whose clock for the same source moment
 * differs from the dead node's by the two connections' arrival jitter: half a part.
 */
const REMOTE_SPLICE_TOLERANCE_MS = 100;

export interface GateStats {
  /** Standby parts whose hash was compared with the active's part at the same position. */
  compared: number;
  /** Of those, the ones that differed. */
  mismatched: number;
  /** Standby events held right now (parts and segments of the current and previous segment). */
  heldEvents: number;
  heldBytes: number;
}

export type PromotionKind = 'seamless' | 'discontinuity';

function hashOf(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex');
}

function positionKey(msn: number, part: number): string {
  return `${msn}.${part}`;
}

export class RenditionGate {
  readonly #send: (event: PackagerEvent) => void;
  #active: LaneId;
  /** Added to the msn of every event of the active lane (non-zero after a discontinuous promotion). */
  #activeMsnOffset = 0;
  /** The last part sent: its position (after the offset) and where its media ends (epoch ms). */
  #lastPart: { msn: number; part: number; endPdt: number } | null = null;
  #lastSegmentMsn: number | null = null;
  #activeHashes = new Map<string, string>();
  #activeInitHash: string | null = null;
  /** The active lane's latest init, sent or held for a splice. */
  #lastInit: PackagerEvent | null = null;
  /** The standby's latest init, its parts and segments since the previous segment began. */
  #standbyInit: PackagerEvent | null = null;
  #held: Array<PartEvent | SegmentEvent> = [];
  #standbyHashes = new Map<string, string>();
  #compared = 0;
  #mismatched = 0;
  /** After a discontinuous promotion: the active lane's events wait for an independent part past this. */
  #splice: { afterPdt: number; nextMsn: number; init: PackagerEvent | null } | null = null;

  constructor(options: { active: LaneId; send: (event: PackagerEvent) => void }) {
    this.#active = options.active;
    this.#send = options.send;
  }

  get activeLane(): LaneId {
    return this.#active;
  }

  stats(): GateStats {
    let heldBytes = 0;
    for (const event of this.#held) heldBytes += event.bytes.length;
    return {
      compared: this.#compared,
      mismatched: this.#mismatched,
      heldEvents: this.#held.length,
      heldBytes,
    };
  }

  /**
   * The standby's outputs matched the active's so far: its init and at least one part compared,
   * every compared part equal. Only meaningful when both lanes started on the same source tag.
   */
  get standbyIdentical(): boolean {
    const standbyInitHash = this.#standbyInit === null ? null : hashOf(this.#standbyInit.bytes);
    return (
      this.#compared > 0 &&
      this.#mismatched === 0 &&
      standbyInitHash !== null &&
      standbyInitHash === this.#activeInitHash
    );
  }

  /** An event of one lane's packager, in that lane's order. */
  offer(lane: LaneId, event: PackagerEvent): void {
    if (lane === this.#active) this.#offerActive(event);
    else this.#offerStandby(event);
  }

  /** The standby lane started a new ffmpeg run: what it held belongs to the dead run. */
  resetStandby(): void {
    this.#standbyInit = null;
    this.#held = [];
    this.#standbyHashes.clear();
    this.#compared = 0;
    this.#mismatched = 0;
  }

  /**
   * Makes the standby lane active. `seamless` continues the same sequence with the standby's held
   * events; otherwise `closeOpenSegment` (the old active packager's flush) is sent first, and the
   * standby's parts follow after a discontinuity from its next independent part.
   */
  promote(kind: PromotionKind, closeOpenSegment: () => PackagerEvent[]): void {
    const held = this.#held;
    const standbyInit = this.#standbyInit;
    if (kind === 'discontinuity') {
      for (const event of closeOpenSegment()) this.#offerActive(event);
    }
    this.#active = this.#active === 0 ? 1 : 0;
    this.#activeHashes = this.#standbyHashes;
    this.#activeInitHash = standbyInit === null ? null : hashOf(standbyInit.bytes);
    this.#standbyHashes = new Map();
    this.#standbyInit = null;
    this.#held = [];
    this.#compared = 0;
    this.#mismatched = 0;
    if (kind === 'discontinuity') {
      const nextMsn = Math.max(this.#lastPart?.msn ?? -1, this.#lastSegmentMsn ?? -1) + 1;
      this.#splice = { afterPdt: this.#lastPart?.endPdt ?? 0, nextMsn, init: standbyInit };
    }
    // The standby's init was held while it was standby; in the discontinuous case it goes out with
    // the first spliced part (sendInit below), in the seamless one the origin already has its bytes.
    for (const event of held) this.#offerActive(event);
  }

  /**
   * A dual publish's standby goes on air (docs/deploy.md, "Dual publish"): the stream's other
   * publish, on another node, stopped, and the origin says where the media it listed ends
   * (`afterPdt`) and which msn comes next. The held lane becomes active and goes out after a
   * discontinuity from its held segment that holds `afterPdt` (from its first one when nothing was
   * listed; from the next one it makes when none holds it): a segment must begin with a keyframe, and
   * starting at the one before the cut shows the viewer up to that much again where starting at the
   * next would make them wait for it (up to a GOP, 2 s with OBS's usual setting).
   */
  promoteRemote(from: { afterPdt: number; nextMsn: number }): void {
    const held = this.#held;
    const standbyInit = this.#standbyInit;
    let start = from.afterPdt;
    for (const event of held) {
      const opensSegment = event.kind === 'part' && event.part === 0 && event.independent;
      if (opensSegment && event.pdt <= from.afterPdt + REMOTE_SPLICE_TOLERANCE_MS) start = event.pdt;
    }
    this.#active = this.#active === 0 ? 1 : 0;
    this.#activeHashes = new Map();
    this.#activeInitHash = null;
    this.#standbyHashes = new Map();
    this.#standbyInit = null;
    this.#held = [];
    this.#compared = 0;
    this.#mismatched = 0;
    this.#splice = { afterPdt: start, nextMsn: from.nextMsn, init: standbyInit };
    // The origin's next msn rules: what this gate sent before a demotion may not all have been listed.
    this.#lastPart = null;
    this.#lastSegmentMsn = null;
    for (const event of held) this.#offerActive(event);
  }

  /**
   * The stream's standby on another node went on air (this publish yielded, or was replaced as a
   * relay's source): this gate's active lane is held from now on, as a dual publish's standby's is,
   * until promoteRemote() puts it back on air. What was sent stays the reference for the numbering.
   */
  demote(): void {
    this.#active = this.#active === 0 ? 1 : 0;
    this.#splice = null;
    this.#activeHashes = new Map();
    this.#activeInitHash = null;
    this.resetStandby();
    // Back on air it sends an init again: the other publish's went out meanwhile.
    this.#standbyInit = this.#lastInit;
  }

  #offerActive(event: PackagerEvent): void {
    if (event.kind === 'init') {
      this.#activeInitHash = hashOf(event.bytes);
      this.#lastInit = event;
      if (this.#splice !== null) {
        this.#splice.init = event;
        return;
      }
      this.#send(event);
      return;
    }
    if (this.#splice !== null) {
      const splice = this.#splice;
      // A part's index is its position in its segment: the splice starts a whole segment (part 0,
      // independent: "Each Media Segment ... SHOULD begin with an IDR"), after what was sent.
      const opensSegment = event.kind === 'part' && event.part === 0 && event.independent;
      if (!opensSegment || event.pdt < splice.afterPdt - SPLICE_TOLERANCE_MS) return;
      this.#activeMsnOffset = splice.nextMsn - event.msn;
      this.#splice = null;
      if (splice.init !== null) {
        this.#lastInit = splice.init;
        this.#send(splice.init);
      }
    }
    const msn = event.msn + this.#activeMsnOffset;
    if (event.kind === 'part') {
      this.#rememberActiveHash(msn, event);
      const last = this.#lastPart;
      if (last !== null && (msn < last.msn || (msn === last.msn && event.part <= last.part))) return;
      this.#lastPart = { msn, part: event.part, endPdt: event.pdt + event.duration * 1000 };
      this.#send(msn === event.msn ? event : { ...event, msn });
      this.#compareHeld(msn, event.part);
      return;
    }
    if (this.#lastSegmentMsn !== null && msn <= this.#lastSegmentMsn) return;
    // A segment of msn M closes M: whatever sent part comes before it is in it.
    this.#lastSegmentMsn = msn;
    this.#send(msn === event.msn ? event : { ...event, msn });
  }

  #rememberActiveHash(msn: number, event: PartEvent): void {
    this.#activeHashes.set(positionKey(msn, event.part), hashOf(event.bytes));
    while (this.#activeHashes.size > ACTIVE_HASHES_KEPT) {
      const oldest = this.#activeHashes.keys().next().value;
      if (oldest === undefined) break;
      this.#activeHashes.delete(oldest);
    }
  }

  /** The active part at (msn, part) just came: compare it with the standby's if that came first. */
  #compareHeld(msn: number, part: number): void {
    const standby = this.#standbyHashes.get(positionKey(msn, part));
    if (standby === undefined) return;
    this.#compared += 1;
    if (standby !== this.#activeHashes.get(positionKey(msn, part))) this.#mismatched += 1;
  }

  #offerStandby(event: PackagerEvent): void {
    if (event.kind === 'init') {
      this.#standbyInit = event;
      return;
    }
    // The standby's numbering is the active's only while the standby is identical; for the
    // comparison the standby's own msn is used, and a different numbering shows up as mismatches.
    const msn = event.msn;
    if (event.kind === 'part') {
      const key = positionKey(msn, event.part);
      const hash = hashOf(event.bytes);
      this.#standbyHashes.set(key, hash);
      while (this.#standbyHashes.size > ACTIVE_HASHES_KEPT) {
        const oldest = this.#standbyHashes.keys().next().value;
        if (oldest === undefined) break;
        this.#standbyHashes.delete(oldest);
      }
      const active = this.#activeHashes.get(key);
      if (active !== undefined) {
        this.#compared += 1;
        if (active !== hash) this.#mismatched += 1;
      }
    }
    this.#held.push(event);
    this.#trimHeld();
  }

  /** Keeps the parts (and segment events) of the current and the previous segment only. */
  #trimHeld(): void {
    const newest = this.#held.at(-1);
    if (newest === undefined) return;
    const keepFrom = newest.msn - 1;
    let drop = 0;
    while (drop < this.#held.length && (this.#held[drop]?.msn ?? keepFrom) < keepFrom) drop += 1;
    if (drop > 0) this.#held = this.#held.slice(drop);
  }
}
