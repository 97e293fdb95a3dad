// What a connection may cost before its publish is authorized (issue 10, finding 2): anyone on the
// internet can open an RTMP socket, so until the origin has accepted a stream key a connection is
// a stranger, and strangers share one small allowance. Three limits sit here, where connections are
// admitted and where their held bytes are reported:
// - connections per client address and in total, counted only while unauthorized, so a script
//   cannot fill the server and an authorized publish never competes with strangers for a slot;
// - new connections per address per minute, so a script that is dropped cannot come straight
//   back and make us pay for accepts and handshakes in a loop;
// - one process-wide byte budget for everything the unauthorized connections hold (handshake
//   bytes, unfinished chunk messages, commands held during authorize). Past it the connection
//   holding the most is closed: a legitimate publisher's connect and publish hold a few hundred
//   bytes, so it is never the largest while a hoarder is around.
// Authorized connections leave the guard and are limited only by the per-publish caps.
// Limits and what a client sees are tabled in docs/security.md.

// Each connection's own limits while it is a stranger, enforced by the connection and its reader:
/**
 * Before authorization only commands flow, and the largest a publisher sends (connect with its
 * tcUrl, swfUrl and flashVer) is a few hundred bytes: 64 KiB is generous and keeps a stranger cheap.
 */
export const PRE_AUTH_MAX_MESSAGE_LENGTH = 64 * 1024;
/** Everything a stranger's chunk reader may hold: two maximal commands in flight. */
export const PRE_AUTH_MAX_BUFFERED_BYTES = 128 * 1024;
/**
 * No publisher lowers the chunk size below the spec's default of 128 ("The maximum chunk size
 * defaults to 128 bytes"); OBS and ffmpeg raise it. A stranger asking for less only wants to make
 * each payload byte cost us a chunk header parse.
 */
export const PRE_AUTH_MIN_CHUNK_SIZE = 128;
/**
 * Everything a stranger may send before its publish is authorized: the handshake (3073 bytes) and
 * a few commands need under 8 KiB. Bounds the parsing one connection can ask of us.
 */
export const PRE_AUTH_MAX_BYTES_IN = 256 * 1024;

/** What a guarded connection offers the guard: a way to be closed when it is over budget. */
export interface GuardedConnection {
  readonly remoteAddress: string;
  closeOverBudget(): void;
}

export interface PreAuthLimits {
  /** Unauthorized connections from one address at a time. */
  readonly maxPerAddress: number;
  /** Unauthorized connections at a time, all addresses together. */
  readonly maxTotal: number;
  /** Bytes all unauthorized connections may hold together. */
  readonly budgetBytes: number;
  /** New connections one address may open per minute (refused ones count too). */
  readonly connectsPerAddressPerMinute: number;
}

/** OBS reconnects with one socket; a handful covers a few encoders behind one NAT starting at once. */
export const DEFAULT_PRE_AUTH_PER_ADDRESS = 8;
export const DEFAULT_PRE_AUTH_TOTAL = 64;
/** 64 strangers at the per-connection cap (128 KiB) would hold 8 MiB; together they get half. */
export const DEFAULT_PRE_AUTH_BUDGET_BYTES = 4 * 1024 * 1024;
/** OBS retries every few seconds after a drop; 30 a minute leaves it room and a loop none. */
export const DEFAULT_CONNECTS_PER_ADDRESS_PER_MINUTE = 30;
const RATE_WINDOW_MS = 60_000;
/** Addresses whose window is tracked; past this, expired windows are dropped first. */
const MAX_TRACKED_ADDRESSES = 10_000;

export type AdmitResult =
  | { ok: true }
  | { ok: false; reason: 'per_address_limit' | 'total_limit' | 'connect_rate_limit' };

export class PreAuthGuard {
  readonly #limits: PreAuthLimits;
  readonly #perAddress = new Map<string, number>();
  readonly #held = new Map<GuardedConnection, number>();
  readonly #members = new Set<GuardedConnection>();
  readonly #connects = new Map<string, { windowStart: number; count: number }>();
  #heldTotal = 0;

  constructor(limits: PreAuthLimits) {
    this.#limits = limits;
  }

  /** Unauthorized connections now. */
  get connections(): number {
    return this.#members.size;
  }

  /** Bytes the unauthorized connections hold now. */
  get heldBytes(): number {
    return this.#heldTotal;
  }

  /** Asked once per new socket, before it gets a connection: may this address open one more? */
  check(remoteAddress: string, countConnect = true): AdmitResult {
    if (countConnect && !this.#countConnect(remoteAddress, Date.now()))
      return { ok: false, reason: 'connect_rate_limit' };
    if (this.#members.size >= this.#limits.maxTotal) return { ok: false, reason: 'total_limit' };
    if ((this.#perAddress.get(remoteAddress) ?? 0) >= this.#limits.maxPerAddress)
      return { ok: false, reason: 'per_address_limit' };
    return { ok: true };
  }

  admit(connection: GuardedConnection): void {
    if (this.#members.has(connection)) return;
    this.#members.add(connection);
    const address = connection.remoteAddress;
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
  }

  /**
   * Records what `connection` holds now; if all strangers together are past the budget, closes
   * the largest holders until they are not. Returns false if `connection` itself was closed.
   */
  report(connection: GuardedConnection, heldBytes: number): boolean {
    if (!this.#members.has(connection)) return true;
    this.#heldTotal += heldBytes - (this.#held.get(connection) ?? 0);
    this.#held.set(connection, heldBytes);
    let closedSelf = false;
    while (this.#heldTotal > this.#limits.budgetBytes) {
      const largest = this.#largest();
      if (largest === null) break;
      if (largest === connection) closedSelf = true;
      // Leave first, so the close (which calls leave again) cannot loop back in here.
      this.leave(largest);
      largest.closeOverBudget();
    }
    return !closedSelf;
  }

  /** The connection was authorized or closed: it no longer counts against any pre-auth limit. */
  leave(connection: GuardedConnection): void {
    if (!this.#members.delete(connection)) return;
    this.#heldTotal -= this.#held.get(connection) ?? 0;
    this.#held.delete(connection);
    const address = connection.remoteAddress;
    const count = (this.#perAddress.get(address) ?? 1) - 1;
    if (count <= 0) this.#perAddress.delete(address);
    else this.#perAddress.set(address, count);
  }

  /** Counts a connect in the address's one-minute window; false once past the rate. */
  #countConnect(address: string, now: number): boolean {
    let window = this.#connects.get(address);
    if (window === undefined || now - window.windowStart >= RATE_WINDOW_MS) {
      if (window === undefined && this.#connects.size >= MAX_TRACKED_ADDRESSES) this.#pruneWindows(now);
      window = { windowStart: now, count: 0 };
      this.#connects.set(address, window);
    }
    window.count += 1;
    return window.count <= this.#limits.connectsPerAddressPerMinute;
  }

  #pruneWindows(now: number): void {
    for (const [address, window] of this.#connects)
      if (now - window.windowStart >= RATE_WINDOW_MS) this.#connects.delete(address);
    // Still full of live windows (a flood from many addresses): forget the oldest half rather than grow.
    if (this.#connects.size >= MAX_TRACKED_ADDRESSES) {
      let drop = this.#connects.size / 2;
      for (const address of this.#connects.keys()) {
        if (drop-- <= 0) break;
        this.#connects.delete(address);
      }
    }
  }

  #largest(): GuardedConnection | null {
    let largest: GuardedConnection | null = null;
    let largestBytes = -1;
    for (const [connection, bytes] of this.#held) {
      if (bytes > largestBytes) {
        largest = connection;
        largestBytes = bytes;
      }
    }
    return largest;
  }
}
