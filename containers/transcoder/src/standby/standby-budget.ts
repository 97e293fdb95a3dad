// The encode slots a node's hot standbys may use: only what the active pipelines leave spare. The
// active plans never see standbys (a new stream plans against active encodes only), and whenever
// the active encodes grow past what is left, standbys are shed, newest first, before any active
// rendition is: a standby is the first thing a loaded node gives up.
import type { EncodeCapacity } from '../ffmpeg/ladder.ts';

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
