// What one socket may cost a shard, enforced where the work is done and before any of it is queued
// (docs/security.md, "anonymous chat work amplification"): lines per second (an IRC frame of 50
// lines is 50 lines, not one frame), channel joins per ten seconds (each one is a D1 lookup and an
// RPC), credential attempts per socket (each one is a D1 lookup), and frames waiting behind the
// one in progress (each waits on RPCs; a queue that grows without end is memory without end).
// Buckets live in memory: a hibernating shard is by definition not being flooded.

/** Lines (IRC) or frames (JSON) per second, sustained; bursts up to twice that. */
export const MAX_LINES_PER_SECOND = 20;
export const LINE_BURST = 2 * MAX_LINES_PER_SECOND;
/** Twitch: "20 JOIN attempts per 10 seconds per user". Past it, targets are refused unread. */
export const MAX_JOINS_PER_WINDOW = 20;
export const JOIN_WINDOW_MS = 10_000;
/** Token lookups one socket may cause (IRC PASS, JSON auth); the next one closes it with 1008. */
export const MAX_CREDENTIAL_ATTEMPTS = 3;
/** Frames waiting behind the one being handled; one more closes the socket with 1008. */
export const MAX_QUEUED_FRAMES = 10;

/** A token bucket: `capacity` at most, refilled at `perSecond`. */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perSecond: number;
  #tokens: number;
  #refilledAt: number;

  constructor(capacity: number, perSecond: number, now: number) {
    this.#capacity = capacity;
    this.#perSecond = perSecond;
    this.#tokens = capacity;
    this.#refilledAt = now;
  }

  /** Takes `count` tokens if there are that many; false (and nothing taken) otherwise. */
  take(count: number, now: number): boolean {
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond,
    );
    this.#refilledAt = now;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }
}

/** One socket's budgets. */
export interface SocketBudget {
  lines: TokenBucket;
  joins: TokenBucket;
  /** Frames accepted and not yet handled, the one in progress included. */
  queued: number;
  /** The tail of the socket's frame chain: frames are handled in the order they arrived. */
  tail: Promise<void>;
}

export function createBudget(now: number): SocketBudget {
  return {
    lines: new TokenBucket(LINE_BURST, MAX_LINES_PER_SECOND, now),
    joins: new TokenBucket(MAX_JOINS_PER_WINDOW, (MAX_JOINS_PER_WINDOW * 1000) / JOIN_WINDOW_MS, now),
    queued: 0,
    tail: Promise.resolve(),
  };
}

/** The lines of an IRC frame that carry something (empty lines cost nothing and do nothing). */
export function splitIrcLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => line.length > 0);
}
