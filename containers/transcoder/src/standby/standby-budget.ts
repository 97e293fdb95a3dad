// The encode slots a node's hot standbys may use: only what the active pipelines leave spare. The
// active plans never see standbys (a new stream plans against active encodes only), and whenever
// the active encodes grow past what is left, standbys are shed, newest first, before any active
// rendition is: a standby is the first thing a loaded node gives up.
import type { EncodeCapacity, LadderPlan } from '../ffmpeg/ladder.ts';

/**
 * The most pixels per second a ladder may encode and still get a standby. Both lanes must encode
 * bit-identically, so every x264 encoder runs on one thread (ffmpeg/args.ts), and ffmpeg 5.1 runs
 * one process's encoders one after another: the whole ladder gets about one core. The 720p30
 * partner ladder (720p30 + 480p30 + 360p30 + 160p30, ~48M pixels/s) measured 0.5 cores with threads
 * (docs/benchmarks.md, transcode-speed), half of that core; a 1080p60 source's ladder encodes about
 * three times as many and would fall behind real time on one thread, so such streams keep threaded
 * encoders and no standby (an ffmpeg crash then costs a restart and a discontinuity).
 */
export const MAX_STANDBY_ENCODED_PIXEL_RATE = 50_000_000;

/** Pixels per second the ladder's encoded video renditions produce (copies cost no encode). */
export function countEncodedPixelRate(plan: Pick<LadderPlan, 'renditions'>): number {
  let total = 0;
  for (const rendition of plan.renditions) {
    if (rendition.kind === 'video' && rendition.videoMode === 'encode')
      total += rendition.width * rendition.height * rendition.fps;
  }
  return total;
}

interface Holder {
  encodes: number;
  shed: () => void;
}

export class StandbyBudget {
  readonly #capacity: () => EncodeCapacity;
  #holders: Holder[] = [];

  constructor(capacity: () => EncodeCapacity) {
    this.#capacity = capacity;
  }

  /** Encode slots held by standbys now. */
  get encodes(): number {
    return this.#holders.reduce((total, holder) => total + holder.encodes, 0);
  }

  get standbys(): number {
    return this.#holders.length;
  }

  /**
   * A standby costing `encodes` slots, if they are spare beside the active encodes and the other
   * standbys. `shed` is called if it must go later. Returns its release, or null when refused.
   */
  tryAdmit(encodes: number, shed: () => void): (() => void) | null {
    const { activeEncodes, maxEncodes } = this.#capacity();
    if (activeEncodes + this.encodes + encodes > maxEncodes) return null;
    const holder: Holder = { encodes, shed };
    this.#holders.push(holder);
    return () => {
      this.#holders = this.#holders.filter((kept) => kept !== holder);
    };
  }

  /** Sheds standbys, newest first, until active and standby encodes fit the node again. */
  shedOverflow(): number {
    let shed = 0;
    const { activeEncodes, maxEncodes } = this.#capacity();
    while (this.#holders.length > 0 && activeEncodes + this.encodes > maxEncodes) {
      const newest = this.#holders.pop();
      if (newest === undefined) break;
      shed += 1;
      newest.shed();
    }
    return shed;
  }
}
