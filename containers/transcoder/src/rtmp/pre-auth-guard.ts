// What a connection may cost before its publish is authorized (issue 10, finding 2): anyone on the
// internet can open an RTMP socket, so until the origin has accepted a stream key a connection is
// a stranger, and strangers share one small allowance. The limits sit here, where connections are
// admitted and where their held bytes are reported:
// - connections per client network (an IPv4 address, an IPv6 /64: common/client-network.ts) and in
//   total, counted only while unauthorized, so an authorized publish never competes for a slot;
// - a full table does not refuse the newcomer: it evicts a stranger, from the most represented
//   network first, then the oldest. A flood from many addresses cannot lock every new publisher
//   (or a live streamer's reconnect) out; the byte budget bounds memory;
// - sockets still in their TLS handshake (RTMPS) count too, with a smaller cap of their own;
// - new connections per network per minute, so a script that is dropped cannot come straight
//   back and make us pay for accepts and handshakes in a loop;
// - one process-wide byte budget for everything the unauthorized connections hold (handshake
//   bytes, unfinished chunk messages, commands held during authorize, replies the peer has not
//   read). Past it the connection holding the most is closed: a legitimate publisher's connect and
//   publish hold a few hundred bytes, so it is never the largest while a hoarder is around.
// Authorized connections leave the guard and are limited only by the per-publish caps.
// Limits and what a client sees are tabled in docs/security.md.
import { toClientNetwork } from '../../../../common/client-network.ts';

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

/**
 * Everything we write to a stranger after the handshake, read or not: its connect and createStream
 * replies and an acknowledgement per 64 KiB it sends need about a kilobyte, so 16 KiB is a peer
 * making us talk (pings answered into a closed window). Counting what is written, not what is left
 * unsent, matters: the kernel's send buffer grows to tcp_wmem's maximum (4 MiB) and takes replies a
 * peer never reads, out of Node's sight.
 */
export const PRE_AUTH_MAX_BYTES_OUT = 16 * 1024;

/** How far a stranger got: TLS handshakes have their own cap, and one authorizing is never evicted. */
export type PreAuthStage = 'tls_handshake' | 'handshake' | 'setup' | 'authorizing';

/** What a guarded connection offers the guard: its network, its progress, and a way to close it. */
export interface GuardedConnection {
  /** `toClientNetwork(remoteAddress)`: the bucket its per-network limits count in. */
  readonly network: string;
  readonly preAuthStage: PreAuthStage;
  /** Closed by the guard: over the byte budget, or evicted to make room for a newcomer. */
  closeByGuard(reason: 'pre_auth_budget' | 'pre_auth_evicted'): void;
}

export interface PreAuthLimits {
  /** Unauthorized connections from one client network at a time. */
  readonly maxPerNetwork: number;
  /** Unauthorized connections at a time, all networks together (TLS handshakes included). */
  readonly maxTotal: number;
  /** Sockets in their TLS handshake at a time (RTMPS), all networks together. */
  readonly maxTlsHandshakes: number;
  /** Bytes all unauthorized connections may hold together. */
  readonly budgetBytes: number;
  /** New connections one client network may open per minute (refused ones count too). */
  readonly connectsPerNetworkPerMinute: number;
}

/** OBS reconnects with one socket; a handful covers a few encoders behind one NAT starting at once. */
export const DEFAULT_PRE_AUTH_PER_NETWORK = 8;
export const DEFAULT_PRE_AUTH_TOTAL = 64;
/** Half the table: handshakes cost CPU, and a flood of them must leave room for RTMP strangers. */
export const DEFAULT_PRE_AUTH_TLS_HANDSHAKES = 32;
/** 64 strangers at the per-connection cap (128 KiB) would hold 8 MiB; together they get half. */
export const DEFAULT_PRE_AUTH_BUDGET_BYTES = 4 * 1024 * 1024;
/** OBS retries every few seconds after a drop; 30 a minute leaves it room and a loop none. */
export const DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE = 30;
const RATE_WINDOW_MS = 60_000;
/** Networks whose window is tracked; past this, expired windows are dropped first. */
const MAX_TRACKED_NETWORKS = 10_000;

export type AdmitRefusal = 'per_network_limit' | 'total_limit' | 'connect_rate_limit';
export type AdmitResult = { ok: true } | { ok: false; reason: AdmitRefusal };

export class PreAuthGuard {
  readonly #limits: PreAuthLimits;
  readonly #perNetwork = new Map<string, number>();
  readonly #held = new Map<GuardedConnection, number>();
  /** In admission order: the first of a kind is the oldest. */
  readonly #members = new Set<GuardedConnection>();
  readonly #connects = new Map<string, { windowStart: number; count: number }>();
  #heldTotal = 0;
  #tlsHandshakes = 0;
  #evictions = 0;

  constructor(limits: PreAuthLimits) {
    this.#limits = limits;
  }

  /** Unauthorized connections now (TLS handshakes included). */
  get connections(): number {
    return this.#members.size;
  }

  /** Bytes the unauthorized connections hold now. */
  get heldBytes(): number {
    return this.#heldTotal;
  }

  /** Strangers closed so far to make room for a newcomer. */
  get evictions(): number {
    return this.#evictions;
  }

  /**
   * Asked once per new socket, before it gets a connection: may this network open one more?
   * A full table is no refusal here: `admit` makes room.
   */
  check(remoteAddress: string, countConnect = true): AdmitResult {
    const network = toClientNetwork(remoteAddress);
    if (countConnect && !this.#countConnect(network, Date.now()))
      return { ok: false, reason: 'connect_rate_limit' };
    if ((this.#perNetwork.get(network) ?? 0) >= this.#limits.maxPerNetwork)
      return { ok: false, reason: 'per_network_limit' };
    return { ok: true };
  }

  /**
   * Counts `connection` among the strangers. When its kind is at its cap, a stranger is evicted
   * (closed) to make room; false only when none can be: every other one is being authorized.
   */
  admit(connection: GuardedConnection): boolean {
    if (this.#members.has(connection)) return true;
    const tls = connection.preAuthStage === 'tls_handshake';
    if (tls && this.#tlsHandshakes >= this.#limits.maxTlsHandshakes) {
      if (!this.#evictFor(true)) return false;
    }
    if (this.#members.size >= this.#limits.maxTotal && !this.#evictFor(false)) return false;
    this.#members.add(connection);
    if (tls) this.#tlsHandshakes += 1;
    const network = connection.network;
    this.#perNetwork.set(network, (this.#perNetwork.get(network) ?? 0) + 1);
    return true;
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
      largest.closeByGuard('pre_auth_budget');
    }
    return !closedSelf;
  }

  /** The connection was authorized or closed: it no longer counts against any pre-auth limit. */
  leave(connection: GuardedConnection): void {
    if (!this.#members.delete(connection)) return;
    if (connection.preAuthStage === 'tls_handshake') this.#tlsHandshakes -= 1;
    this.#heldTotal -= this.#held.get(connection) ?? 0;
    this.#held.delete(connection);
    const network = connection.network;
    const count = (this.#perNetwork.get(network) ?? 1) - 1;
    if (count <= 0) this.#perNetwork.delete(network);
    else this.#perNetwork.set(network, count);
  }

  /**
   * Closes one stranger to make room: from the most represented network (one host's many sockets
   * go before a lone publisher's one), the oldest of those (members iterate in admission order).
   * Age, not progress: a publisher in its first round trip would otherwise lose to strangers that
   * finished theirs, while the oldest has had the most of its setup deadline already; evicted
   * strangers that come back are the newest, and their return is bounded by the connect rate. One
   * being authorized is never evicted: its key is with the origin already.
   */
  #evictFor(tlsOnly: boolean): boolean {
    let victim: GuardedConnection | null = null;
    let victimCount = 0;
    for (const member of this.#members) {
      if (member.preAuthStage === 'authorizing') continue;
      if (tlsOnly && member.preAuthStage !== 'tls_handshake') continue;
      const count = this.#perNetwork.get(member.network) ?? 0;
      if (count > victimCount) {
        victim = member;
        victimCount = count;
      }
    }
    if (victim === null) return false;
    this.leave(victim);
    this.#evictions += 1;
    victim.closeByGuard('pre_auth_evicted');
    return true;
  }

  /** Counts a connect in the network's one-minute window; false once past the rate. */
  #countConnect(network: string, now: number): boolean {
    let window = this.#connects.get(network);
    if (window === undefined || now - window.windowStart >= RATE_WINDOW_MS) {
      if (window === undefined && this.#connects.size >= MAX_TRACKED_NETWORKS) this.#pruneWindows(now);
      window = { windowStart: now, count: 0 };
      this.#connects.set(network, window);
    }
    window.count += 1;
    return window.count <= this.#limits.connectsPerNetworkPerMinute;
  }

  #pruneWindows(now: number): void {
    for (const [network, window] of this.#connects)
      if (now - window.windowStart >= RATE_WINDOW_MS) this.#connects.delete(network);
    // Still full of live windows (a flood from many networks): forget the oldest half rather than grow.
    if (this.#connects.size >= MAX_TRACKED_NETWORKS) {
      let drop = this.#connects.size / 2;
      for (const network of this.#connects.keys()) {
        if (drop-- <= 0) break;
        this.#connects.delete(network);
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
