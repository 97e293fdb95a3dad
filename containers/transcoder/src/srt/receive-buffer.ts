// The receiving half of an SRT live connection (draft-sharabayko-srt-01 §4.5–§4.8): packets are put
// back in sequence order, gaps are reported (NAK) and asked again while the latency allows, and the
// payload leaves in order. What it holds is bounded by a packet count and a byte count; a gap that
// outlives the agreed latency is given up (§4.6 "Too-Late Packet Drop") and delivery moves on.
//
// Delivery is in order with a bounded wait, not paced by each packet's timestamp (TSBPD proper):
// the consumer is ffmpeg reading MPEG-TS, which paces itself on the stream's PCR, so holding a
// packet that is already in order until its play time would only add latency.
import { SEQ_MASK, seqAdd, seqDiff } from './packet.ts';

export interface ReceiveBufferOptions {
  readonly initialSeq: number;
  /** The agreed TSBPD delay: how long a gap may hold back later packets before it is dropped. */
  readonly latencyMs: number;
  /** Packets held out of order at most (and the furthest ahead of the first gap one may land). */
  readonly maxPackets: number;
  readonly maxBytes: number;
}

interface Held {
  readonly payload: Buffer;
  readonly arrivedAt: number;
}

interface Loss {
  first: number;
  last: number;
  /** When this range was last reported (NAK), for the periodic re-report (§4.8.2). */
  reportedAt: number;
}

export interface ReceiveResult {
  /** Payloads now in order, to hand on. */
  readonly deliver: Buffer[];
  /** Ranges newly found missing: report them at once (§4.8.1 "immediate NAK"). */
  readonly newLosses: Array<readonly [number, number]>;
}

export class ReceiveBuffer {
  readonly #options: ReceiveBufferOptions;
  /** The next sequence number to deliver: everything before it has left (or was given up). */
  #next: number;
  /** The highest sequence number seen, or next - 1 before any. */
  #highest: number;
  readonly #held = new Map<number, Held>();
  #heldBytes = 0;
  #losses: Loss[] = [];
  #dropped = 0;
  #duplicates = 0;

  constructor(options: ReceiveBufferOptions) {
    this.#options = options;
    this.#next = options.initialSeq & SEQ_MASK;
    this.#highest = seqAdd(this.#next, -1);
  }

  /** "the sequence number of the last data packet being acknowledged plus one" for the next ACK. */
  get ackSeq(): number {
    return this.#next;
  }

  get heldPackets(): number {
    return this.#held.size;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Packets given up (too late or over the bounds). */
  get droppedPackets(): number {
    return this.#dropped;
  }

  get duplicatePackets(): number {
    return this.#duplicates;
  }

  get availablePackets(): number {
    return Math.max(0, this.#options.maxPackets - this.#held.size);
  }

  /** Takes one data packet's (decrypted) payload. */
  receive(seq: number, payload: Buffer, now: number): ReceiveResult {
    const deliver: Buffer[] = [];
    const newLosses: Array<readonly [number, number]> = [];
    const offset = seqDiff(this.#next, seq);
    if (offset < 0 || this.#held.has(seq)) {
      this.#duplicates += 1;
      return { deliver, newLosses };
    }
    // Further ahead than the buffer can span: a sender that ran far past a gap. Give the gap up
    // (the packets it would wait for are older than anything we could still hold) and restart there.
    if (offset >= this.#options.maxPackets) {
      this.#skipTo(seqAdd(seq, -(this.#options.maxPackets - 1)), deliver);
    }
    const ahead = seqDiff(this.#highest, seq);
    if (ahead > 1) {
      const first = seqAdd(this.#highest, 1);
      const last = seqAdd(seq, -1);
      this.#losses.push({ first, last, reportedAt: now });
      newLosses.push([first, last]);
    } else if (ahead <= 0) {
      this.#removeLoss(seq);
    }
    if (ahead > 0) this.#highest = seq;
    this.#held.set(seq, { payload, arrivedAt: now });
    this.#heldBytes += payload.length;
    while (this.#heldBytes > this.#options.maxBytes && this.#held.size > 1) {
      // Over the byte bound: the oldest gap goes, as if it had outlived the latency.
      this.#skipTo(this.#firstHeldAfterNext(), deliver);
      this.#deliverInOrder(deliver);
    }
    this.#deliverInOrder(deliver);
    return { deliver, newLosses };
  }

  /**
   * The periodic check: a gap whose later packets have waited the whole latency is given up
   * (§4.6: "packets ... too late to be delivered ... are dropped"); returns what that releases.
   */
  dropLate(now: number): Buffer[] {
    const deliver: Buffer[] = [];
    for (let guard = 0; guard < this.#options.maxPackets && this.#held.size > 0; guard += 1) {
      const first = this.#firstHeldAfterNext();
      const held = this.#held.get(first);
      if (held === undefined || now - held.arrivedAt < this.#options.latencyMs) break;
      this.#skipTo(first, deliver);
      this.#deliverInOrder(deliver);
    }
    return deliver;
  }

  /** Losses last reported at least `intervalMs` ago, marked reported now (§4.8.2 periodic NAK). */
  takeLossReport(now: number, intervalMs: number): Array<readonly [number, number]> {
    const ranges: Array<readonly [number, number]> = [];
    for (const loss of this.#losses) {
      if (now - loss.reportedAt < intervalMs) continue;
      loss.reportedAt = now;
      ranges.push([loss.first, loss.last]);
    }
    return ranges;
  }

  get lossRanges(): number {
    return this.#losses.length;
  }

  #deliverInOrder(deliver: Buffer[]): void {
    for (;;) {
      const held = this.#held.get(this.#next);
      if (held === undefined) return;
      this.#held.delete(this.#next);
      this.#heldBytes -= held.payload.length;
      deliver.push(held.payload);
      this.#next = seqAdd(this.#next, 1);
    }
  }

  /** The lowest held sequence number (held packets are all after #next). */
  #firstHeldAfterNext(): number {
    let best = -1;
    let bestOffset = Number.POSITIVE_INFINITY;
    for (const seq of this.#held.keys()) {
      const offset = seqDiff(this.#next, seq);
      if (offset < bestOffset) {
        best = seq;
        bestOffset = offset;
      }
    }
    return best;
  }

  /** Gives up everything before `seq`: delivers what is held there, forgets the losses. */
  #skipTo(seq: number, deliver: Buffer[]): void {
    const distance = seqDiff(this.#next, seq);
    if (distance > this.#options.maxPackets) {
      // Everything held lies within maxPackets of #next: hand it on in order, then jump.
      const held = [...this.#held.entries()].sort(([a], [b]) => seqDiff(b, a));
      for (const [, packet] of held) deliver.push(packet.payload);
      this.#dropped += distance - held.length;
      this.#held.clear();
      this.#heldBytes = 0;
      this.#next = seq;
    }
    while (seqDiff(this.#next, seq) > 0) {
      const held = this.#held.get(this.#next);
      if (held !== undefined) {
        this.#held.delete(this.#next);
        this.#heldBytes -= held.payload.length;
        deliver.push(held.payload);
      } else {
        this.#dropped += 1;
      }
      this.#next = seqAdd(this.#next, 1);
    }
    if (seqDiff(this.#highest, this.#next) > 1) this.#highest = seqAdd(this.#next, -1);
    this.#losses = this.#losses.filter((loss) => {
      if (seqDiff(this.#next, loss.last) < 0) return false;
      if (seqDiff(this.#next, loss.first) < 0) loss.first = this.#next;
      return true;
    });
  }

  #removeLoss(seq: number): void {
    const index = this.#losses.findIndex(
      (loss) => seqDiff(loss.first, seq) >= 0 && seqDiff(seq, loss.last) >= 0,
    );
    const loss = this.#losses[index];
    if (loss === undefined) return;
    if (loss.first === loss.last) this.#losses.splice(index, 1);
    else if (seq === loss.first) loss.first = seqAdd(seq, 1);
    else if (seq === loss.last) loss.last = seqAdd(seq, -1);
    else
      this.#losses.splice(index, 1, { ...loss, last: seqAdd(seq, -1) }, { ...loss, first: seqAdd(seq, 1) });
  }
}
