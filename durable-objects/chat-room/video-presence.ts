// Who watches the video: the players' presence signal (POST /api/v1/channels/{id}/presence every
// PRESENCE_HEARTBEAT_MS while the video plays, web/src's player and any embed), kept by the
// channel's ChatRoom beside the chat census (viewer-census.ts). A viewer counts while its last
// signal is younger than PRESENCE_TTL_MS; the room's 10 s sweep forgets the rest. This is what the
// published viewer count is made of (issue: "count viewers of the video ... not bots"): a chat
// socket alone (a bot, a tmi.js client) plays no video and sends no presence.
//
// Inflation is bounded where the count is made: an anonymous viewer is keyed by its client network
// (IPv4 address or IPv6 /64, common/client-network.ts) and the random id its player keeps, and one
// network counts at most MAX_ANONYMOUS_VIEWERS_PER_NETWORK anonymous viewers per channel at a time
// (a household, not a script minting ids); a signed-in viewer counts once whatever its tabs and
// networks. The map holds at most MAX_PRESENT_VIEWERS entries. Kept in memory only: a restarted
// room has every viewer back within one heartbeat.

/** How often a playing player signals (web/src/lib/presence.ts sends at this interval). */
export const PRESENCE_HEARTBEAT_MS = 20_000;
/** A viewer whose last signal is older is gone: two missed heartbeats and some slack. */
export const PRESENCE_TTL_MS = 45_000;
/** Anonymous viewers one client network counts for at a time, per channel. */
export const MAX_ANONYMOUS_VIEWERS_PER_NETWORK = 5;
/** Entries one channel keeps (about 100 bytes each): far above any real audience of one room. */
export const MAX_PRESENT_VIEWERS = 200_000;

export type PresenceViewer =
  | { kind: 'user'; userId: string }
  | { kind: 'anonymous'; network: string; viewerId: string };

export type PresenceOutcome =
  | { kind: 'counted'; viewerKey: string }
  | { kind: 'network-full' }
  | { kind: 'room-full' };

interface Presence {
  seenAt: number;
  /** The network an anonymous viewer is counted against; null for a signed-in viewer. */
  network: string | null;
}

export function getPresenceKey(viewer: PresenceViewer): string {
  return viewer.kind === 'user' ? `user:${viewer.userId}` : `anon:${viewer.network}:${viewer.viewerId}`;
}

export class VideoPresence {
  readonly #viewers = new Map<string, Presence>();
  readonly #perNetwork = new Map<string, number>();

  /** Viewers held, fresh or not yet swept. */
  get size(): number {
    return this.#viewers.size;
  }

  /** A player's signal: refreshes a known viewer, or counts a new one within the bounds. */
  see(viewer: PresenceViewer, now: number): PresenceOutcome {
    const key = getPresenceKey(viewer);
    const known = this.#viewers.get(key);
    if (known && now - known.seenAt <= PRESENCE_TTL_MS) {
      known.seenAt = now;
      return { kind: 'counted', viewerKey: key };
    }
    if (known) this.#forget(key, known);
    if (this.#viewers.size >= MAX_PRESENT_VIEWERS) return { kind: 'room-full' };
    const network = viewer.kind === 'anonymous' ? viewer.network : null;
    if (network !== null) {
      const held = this.#perNetwork.get(network) ?? 0;
      if (held >= MAX_ANONYMOUS_VIEWERS_PER_NETWORK) return { kind: 'network-full' };
      this.#perNetwork.set(network, held + 1);
    }
    this.#viewers.set(key, { seenAt: now, network });
    return { kind: 'counted', viewerKey: key };
  }

  /** Forgets viewers whose last signal is older than the TTL (the room's 10 s sweep). */
  sweep(now: number): void {
    for (const [key, presence] of this.#viewers)
      if (now - presence.seenAt > PRESENCE_TTL_MS) this.#forget(key, presence);
  }

  /** Viewers whose last signal is within the TTL. */
  count(now: number): number {
    let total = 0;
    for (const presence of this.#viewers.values()) if (now - presence.seenAt <= PRESENCE_TTL_MS) total++;
    return total;
  }

  #forget(key: string, presence: Presence): void {
    this.#viewers.delete(key);
    if (presence.network === null) return;
    const held = (this.#perNetwork.get(presence.network) ?? 1) - 1;
    if (held > 0) this.#perNetwork.set(presence.network, held);
    else this.#perNetwork.delete(presence.network);
  }
}
