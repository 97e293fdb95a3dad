// A stream's transcodes: the active lane, and for a tier with a hot standby a second lane on the
// same input whose parts the gates hold. The pair knows which lane is active, when each last made
// a part, and promotes the standby when the active's ffmpeg dies or misses its part deadline; it
// sheds the standby under load or when it falls behind or keeps failing. The pipeline creates the
// lanes and routes their events; the gates (rendition-gate.ts) decide what reaches the uploader.
import type { RenditionName } from '../../../../protocol/ingest.ts';
import type { TranscodeLane } from '../ffmpeg/transcode-lane.ts';
import type { LogEvent } from '../log.ts';
import type { LaneId, PromotionKind, RenditionGate } from './rendition-gate.ts';

/**
 * The active lane missed its part deadline when it produced no part for this long (five part
 * durations) while the standby did: promoted as if it had died.
 */
export const PART_DEADLINE_MS = 1000;
const DEADLINE_CHECK_MS = 100;
/**
 * A lane with no standby beside it is hung when it made no part for this long while the source kept
 * sending: it is killed, and its supervisor restarts it (a discontinuity). Longer than the pair's
 * deadline: there is nothing to compare with, and a starved ffmpeg must not be restarted for a hiccup.
 */
export const LONE_LANE_DEADLINE_MS = 6_000;
/** A standby this far behind the active is hung or starved: it is restarted. */
const STANDBY_MAX_LAG_MS = 5_000;

/** `handed_over`: the stream's standby on another node went on air; this publish waits as its standby. */
export type ShedReason = 'node_load' | 'standby_behind' | 'standby_failing' | 'handed_over';

export interface LanePairOptions {
  /** The stream's renditions and their gates (known once the ladder is planned). */
  readonly gates: () => Iterable<[RenditionName, RenditionGate]>;
  readonly log: (fields: LogEvent) => void;
  /** Default PART_DEADLINE_MS; tests shorten it. */
  readonly partDeadlineMs?: number;
  /** Default LONE_LANE_DEADLINE_MS; tests shorten it. */
  readonly loneLaneDeadlineMs?: number;
}

function killProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // It exited meanwhile; its supervisor restarts it all the same.
  }
}

export class LanePair {
  readonly #options: LanePairOptions;
  #lanes: [TranscodeLane | null, TranscodeLane | null] = [null, null];
  #active: LaneId = 0;
  /** Gives the standby's encode slots back to the node's budget. */
  #standbyRelease: (() => void) | null = null;
  #shed = false;
  #promotions = 0;
  #seamlessPromotions = 0;
  /** Where each lane's newest part ends (epoch ms, over all renditions): the part deadline's clock. */
  #laneMediaEnd: [number, number] = [0, 0];
  /** When each lane's newest part came out of its packager (epoch ms; 0 before any). */
  #lanePartAt: [number, number] = [0, 0];
  #deadlineTimer: NodeJS.Timeout | null = null;
  /** A media tag came since the last deadline check (set per tag: no clock read on that path). */
  #mediaSinceCheck = false;
  /** When a check last saw media come (epoch ms): a lone lane is only hung while the source sends. */
  #mediaSeenAt = 0;
  #closed = false;

  constructor(options: LanePairOptions) {
    this.#options = options;
  }

  /**
   * Takes the stream's lanes: lane 0 active, lane 1 the standby with the release of its encode
   * slots (null when there is none). Starts the part deadline's watch when there is a standby.
   */
  begin(active: TranscodeLane, standby: { lane: TranscodeLane; release: () => void } | null): void {
    this.#lanes = [active, standby?.lane ?? null];
    this.#active = 0;
    this.#deadlineTimer = setInterval(() => this.#checkPartDeadline(), DEADLINE_CHECK_MS);
    if (standby === null) return;
    this.#standbyRelease = standby.release;
  }

  /** The standby was wanted but refused (or later given up) for load. */
  markShed(): void {
    this.#shed = true;
  }

  get started(): boolean {
    return this.#lanes[0] !== null || this.#lanes[1] !== null;
  }

  get active(): TranscodeLane | null {
    return this.#lanes[this.#active];
  }

  get standby(): TranscodeLane | null {
    return this.#lanes[this.#standbyId()];
  }

  /** Feeds a source tag to both lanes (every media tag: no allocation). */
  push(tag: Buffer, timestamp: number | null): void {
    if (timestamp !== null) this.#mediaSinceCheck = true;
    this.#lanes[0]?.push(tag, timestamp);
    this.#lanes[1]?.push(tag, timestamp);
  }

  /** The lanes that exist now, active or standby. */
  lanes(): TranscodeLane[] {
    return this.#lanes.filter((lane) => lane !== null);
  }

  isActive(id: LaneId): boolean {
    return id === this.#active;
  }

  /** The lane is still part of the pair (a shed standby is not). */
  has(id: LaneId): boolean {
    return this.#lanes[id] !== null;
  }

  get promotions(): number {
    return this.#promotions;
  }

  get seamlessPromotions(): number {
    return this.#seamlessPromotions;
  }

  get shed(): boolean {
    return this.#shed;
  }

  /** A lane's packager made a part ending at `mediaEnd` (epoch ms). */
  recordPart(id: LaneId, mediaEnd: number): void {
    if (mediaEnd > this.#laneMediaEnd[id]) this.#laneMediaEnd[id] = mediaEnd;
    this.#lanePartAt[id] = Date.now();
  }

  /** A standby's ffmpeg started again: it starts on a later keyframe, and what its gates held is the dead run's. */
  standbyRestarted(id: LaneId): void {
    if (id === this.#active) return;
    this.#laneMediaEnd[id] = 0;
    for (const [, gate] of this.#options.gates()) gate.resetStandby();
  }

  /**
   * The active lane died or missed its part deadline: the standby takes over at once. Seamless when
   * both lanes started on the same source tag and every part compared so far was identical;
   * otherwise the gates splice after a discontinuity at the standby's next independent part. The
   * old active lane's supervisor restarts it, and it becomes the standby from its next keyframe.
   */
  promote(reason: 'ffmpeg_exit' | 'part_deadline'): PromotionKind | null {
    const active = this.active;
    const standby = this.standby;
    if (active === null || standby === null || !standby.running) return null;
    const sameStart =
      active.runFirstTimestamp !== null && active.runFirstTimestamp === standby.runFirstTimestamp;
    // Per rendition, what the comparison saw: compared parts, mismatched parts, and the verdict.
    const identical: Partial<Record<RenditionName, [number, number, boolean]>> = {};
    let seamless = sameStart;
    for (const [name, gate] of this.#options.gates()) {
      const { compared, mismatched } = gate.stats();
      identical[name] = [compared, mismatched, gate.standbyIdentical];
      if (!gate.standbyIdentical) seamless = false;
    }
    // One rule for all renditions: "Matching content in Variant Streams MUST have matching
    // Discontinuity Sequence Numbers" (RFC 8216bis 6.2.4): if one needs a discontinuity, all take one.
    const kind: PromotionKind = seamless ? 'seamless' : 'discontinuity';
    for (const [name, gate] of this.#options.gates()) gate.promote(kind, () => active.flush(name));
    this.#active = this.#standbyId();
    this.#promotions += 1;
    if (seamless) this.#seamlessPromotions += 1;
    this.#options.log({
      level: 'warn',
      event: 'pipeline.standby_promoted',
      reason,
      kind,
      same_start: sameStart,
      identical,
      promotions: this.#promotions,
    });
    return kind;
  }

  /** Gives up the standby; the stream goes on with its active transcode alone. */
  shedStandby(reason: ShedReason): void {
    const standbyId = this.#standbyId();
    const standby = this.#lanes[standbyId];
    if (standby === null || this.#closed) return;
    this.#lanes[standbyId] = null;
    this.#shed = true;
    this.#standbyRelease?.();
    this.#standbyRelease = null;
    for (const [, gate] of this.#options.gates()) gate.resetStandby();
    this.#options.log({ level: 'warn', event: 'pipeline.standby_shed', reason });
    void standby.close();
  }

  /** Stops the watch, closes both lanes and gives the standby's slots back; runs once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#deadlineTimer) clearInterval(this.#deadlineTimer);
    this.#deadlineTimer = null;
    await Promise.all(this.#lanes.map((lane) => lane?.close()));
    this.#standbyRelease?.();
    this.#standbyRelease = null;
  }

  #standbyId(): LaneId {
    return this.#active === 0 ? 1 : 0;
  }

  /**
   * The part deadline: the active lane missed it when it produced no part for the deadline while
   * the standby did (a hung or starved ffmpeg; one merely running a little late is left alone). An
   * identical standby swaps roles with it (nothing restarts, so the pair stays identical); a
   * different one is spliced in and the late process killed. A standby that lags the active by
   * STANDBY_MAX_LAG_MS of media is hung itself and is restarted (a fresh standby from the next
   * keyframe).
   */
  #checkPartDeadline(): void {
    if (this.#closed) return;
    if (this.#mediaSinceCheck) {
      this.#mediaSinceCheck = false;
      this.#mediaSeenAt = Date.now();
    }
    const active = this.active;
    const standby = this.standby;
    if (active !== null && standby === null) {
      this.#checkLoneLane(active);
      return;
    }
    if (active === null || standby === null || !active.running || !standby.running) return;
    const now = Date.now();
    const deadline = this.#options.partDeadlineMs ?? PART_DEADLINE_MS;
    const activeSilentMs = now - this.#lanePartAt[this.#active];
    const standbySilentMs = now - this.#lanePartAt[this.#standbyId()];
    if (this.#lanePartAt[this.#active] !== 0 && activeSilentMs > deadline && standbySilentMs < deadline) {
      const pid = active.pid;
      const kind = this.promote('part_deadline');
      if (kind === 'discontinuity' && pid !== null) killProcess(pid);
      return;
    }
    const activeEnd = this.#laneMediaEnd[this.#active];
    const standbyEnd = this.#laneMediaEnd[this.#standbyId()];
    if (standbyEnd !== 0 && activeEnd - standbyEnd > STANDBY_MAX_LAG_MS) {
      const pid = standby.pid;
      this.#options.log({
        level: 'warn',
        event: 'pipeline.standby_restarting',
        lag_ms: Math.round(activeEnd - standbyEnd),
      });
      this.#laneMediaEnd[this.#standbyId()] = 0;
      if (pid !== null) killProcess(pid);
    }
  }

  /** A lane alone that stopped making parts while the source kept sending (a hung ffmpeg) is killed. */
  #checkLoneLane(lane: TranscodeLane): void {
    const now = Date.now();
    const lastPartAt = this.#lanePartAt[this.#active];
    const deadline = this.#options.loneLaneDeadlineMs ?? LONE_LANE_DEADLINE_MS;
    if (!lane.running || lastPartAt === 0 || now - lastPartAt <= deadline) return;
    if (now - this.#mediaSeenAt > deadline / 2) return;
    const pid = lane.pid;
    this.#options.log({ level: 'warn', event: 'pipeline.ffmpeg_hung', silent_ms: now - lastPartAt });
    // Its restarted run gets a whole deadline for its first part.
    this.#lanePartAt[this.#active] = now;
    if (pid !== null) killProcess(pid);
  }
}
