// Who watches a channel. Viewers are the players that signal presence (video-presence.ts): the
// published count, what the directory ranks by. Chatters are the chat sockets: the shards holding
// them and how many each holds, which shard a new JSON socket goes to. Shards report their count
// every ~10 s (chat-shard/chat-shard.ts); the latest report replaces what the room believed, and a
// shard that stops reporting stops counting, so a crashed shard cannot inflate the count. A chat
// socket alone no longer makes a viewer: a bot plays no video. The unique-viewer sketch of the
// current stream counts everyone seen either way, once.
import { HyperLogLog } from '../chat/hyperloglog.ts';
import type { RoomStorage } from './storage.ts';
import { type PresenceOutcome, type PresenceViewer, VideoPresence } from './video-presence.ts';

/** Seed: "Each WS server reports per-stream count every 10 seconds." */
export const VIEWER_REPORT_INTERVAL_MS = 10_000;
/** A shard that has not reported for this long is gone (crashed, evicted): its count no longer counts. */
export const STALE_REPORT_MS = 30_000;
/** A shard's count is written at once when it is this far from the stored one (see #dirtyShards). */
export const STORE_DRIFT = 32;

interface ShardLoad {
  count: number;
  reportedAt: number;
}

export interface ViewerStats {
  /** Players whose presence is fresh: the published viewer count. */
  viewers: number;
  /** Chat sockets in fresh shard reports. */
  chatters: number;
  uniqueViewers: number;
  shards: Record<string, number>;
}

export class ViewerCensus {
  readonly #storage: RoomStorage;
  readonly #shards = new Map<string, ShardLoad>();
  /** Sockets sent to a shard whose join has not arrived yet, so concurrent upgrades do not overfill it. */
  readonly #reserved = new Map<string, number>();
  /**
   * Shards whose count changed by a join or leave since it was last written. A count is written at
   * once when the shard starts or stops holding sockets (what the fan-out is sent to) or has moved
   * STORE_DRIFT from what is stored; the rest waits for the next sweep: a row write per socket was
   * a storage commit on every upgrade and close (bench/chat/connect-storm.ts --profile), and every
   * shard's own report replaces the count anyway.
   */
  readonly #dirtyShards = new Set<string>();
  /** The count stored for each shard, so a drift past STORE_DRIFT is written at once. */
  readonly #storedCounts = new Map<string, number>();
  /**
   * Shards restored from storage whose own report has not come since: their stored count may lag
   * the truth by up to STORE_DRIFT, so leaves never take one below 1 (which would stop the fan-out
   * to sockets still there) until the shard reports.
   */
  readonly #unconfirmed = new Set<string>();
  readonly #presence = new VideoPresence();
  #uniqueViewers = new HyperLogLog();
  #uniqueViewersDirty = false;
  #streamId: string | null = null;

  constructor(storage: RoomStorage) {
    this.#storage = storage;
  }

  /** Restores shard loads and the sketch after a restart. */
  load(): void {
    for (const row of this.#storage.readShards()) {
      this.#shards.set(row.name, { count: row.count, reportedAt: row.reportedAt });
      this.#storedCounts.set(row.name, row.count);
      this.#unconfirmed.add(row.name);
    }
    const sketch = this.#storage.readSketch();
    if (sketch) {
      this.#streamId = sketch.streamId;
      this.#uniqueViewers = new HyperLogLog(sketch.registers);
    }
  }

  get streamId(): string | null {
    return this.#streamId;
  }

  /** Shards or viewers are known: the room's 10 s sweep has work. */
  get hasShards(): boolean {
    return this.#shards.size > 0 || this.#presence.size > 0;
  }

  /** Fills shard 0 up to `perShard`, then 1, ...; reserves the seat until the socket joins. */
  assignShard(channelId: string, perShard: number): string {
    for (let n = 0; ; n++) {
      const name = `${channelId}:${n}`;
      const load = (this.#shards.get(name)?.count ?? 0) + (this.#reserved.get(name) ?? 0);
      if (load < perShard) {
        this.#reserved.set(name, (this.#reserved.get(name) ?? 0) + 1);
        return name;
      }
    }
  }

  /** A socket joined `shardName`; `viewerKey` counts its person once per stream. */
  join(shardName: string, viewerKey: string, now: number): void {
    const reserved = this.#reserved.get(shardName) ?? 0;
    if (reserved > 0) this.#reserved.set(shardName, reserved - 1);
    const load = this.#shards.get(shardName);
    this.#change(shardName, (load?.count ?? 0) + 1, now);
    if (this.#uniqueViewers.add(viewerKey)) this.#uniqueViewersDirty = true;
  }

  leave(shardName: string): void {
    const load = this.#shards.get(shardName);
    if (!load) return;
    const floor = this.#unconfirmed.has(shardName) ? 1 : 0;
    this.#change(shardName, Math.max(floor, load.count - 1), load.reportedAt);
  }

  /** A join or leave: in memory at once, in storage as #dirtyShards says. */
  #change(name: string, count: number, reportedAt: number): void {
    const stored = this.#storedCounts.get(name) ?? 0;
    if (count === 0 || stored === 0 || Math.abs(count - stored) >= STORE_DRIFT) {
      this.#store(name, count, reportedAt);
      return;
    }
    this.#shards.set(name, { count, reportedAt });
    this.#dirtyShards.add(name);
  }

  report(shardName: string, count: number, now: number): void {
    this.#reserved.delete(shardName);
    this.#unconfirmed.delete(shardName);
    this.#store(shardName, count, now);
  }

  #store(name: string, count: number, reportedAt: number): void {
    this.#dirtyShards.delete(name);
    this.#storedCounts.set(name, count);
    this.#shards.set(name, { count, reportedAt });
    this.#storage.writeShard(name, count, reportedAt);
  }

  /** A player's presence signal; a viewer counted for the first time joins the unique sketch. */
  see(viewer: PresenceViewer, now: number): PresenceOutcome {
    const outcome = this.#presence.see(viewer, now);
    if (outcome.kind === 'counted' && this.#uniqueViewers.add(outcome.viewerKey))
      this.#uniqueViewersDirty = true;
    return outcome;
  }

  /** Viewers now: players whose presence is fresh. */
  countViewers(now: number): number {
    return this.#presence.count(now);
  }

  /** Chat sockets now: the sum of fresh shard reports. */
  countChatters(now: number): number {
    let total = 0;
    for (const load of this.#shards.values())
      if (now - load.reportedAt <= STALE_REPORT_MS) total += load.count;
    return total;
  }

  /** The shards a batch goes to: those with viewers and a fresh report. */
  listActiveShards(now: number): string[] {
    return [...this.#shards]
      .filter(([, load]) => load.count > 0 && now - load.reportedAt <= STALE_REPORT_MS)
      .map(([name]) => name);
  }

  readStats(now: number): ViewerStats {
    const shards: Record<string, number> = {};
    for (const [name, load] of this.#shards)
      if (now - load.reportedAt <= STALE_REPORT_MS) shards[name] = load.count;
    return {
      viewers: this.countViewers(now),
      chatters: this.countChatters(now),
      uniqueViewers: this.#uniqueViewers.count(),
      shards,
    };
  }

  /** Forgets shards that went quiet or empty, and viewers whose presence expired. */
  dropStaleShards(now: number): void {
    this.#presence.sweep(now);
    for (const [name, load] of this.#shards) {
      if (now - load.reportedAt > STALE_REPORT_MS || load.count === 0) {
        this.#shards.delete(name);
        this.#dirtyShards.delete(name);
        this.#storedCounts.delete(name);
        this.#unconfirmed.delete(name);
        this.#storage.deleteShard(name);
      }
    }
    for (const name of this.#dirtyShards) {
      const load = this.#shards.get(name);
      if (load) this.#store(name, load.count, load.reportedAt);
    }
    this.#dirtyShards.clear();
  }

  /** Unique viewers are counted per stream: a new stream starts a new sketch. Persists changes. */
  followStream(streamId: string | null): void {
    if (streamId !== this.#streamId) {
      // Viewers seen before the room learned of the stream (its sweep runs every 10 s) are that
      // stream's: the sketch starts afresh only when a stream ends or another one replaces it.
      if (this.#streamId !== null || streamId === null) this.#uniqueViewers = new HyperLogLog();
      this.#streamId = streamId;
      this.#uniqueViewersDirty = true;
    }
    if (this.#uniqueViewersDirty) {
      this.#uniqueViewersDirty = false;
      this.#storage.writeSketch(this.#streamId, this.#uniqueViewers.registers);
    }
  }

  countUniqueViewers(): number {
    return this.#uniqueViewers.count();
  }
}
