// How a room hands its batches to its shards without waiting on the slowest one. Each shard has
// at most one delivery in flight; batches flushed meanwhile are merged into one waiting batch for
// that shard and sent when the delivery returns. So the room keeps its ~100 ms rhythm whatever a
// shard's round trip costs, a shard always receives events in the order the room accepted them,
// and a slow shard costs its own viewers one bigger batch instead of a queue that grows without end.
//
// Relays (docs/capacity.md, "a relay level"): past RELAY_GROUP_SIZE shards, the room does not call
// every shard. It splits them into groups and calls the first shard of each group, which delivers
// to its own sockets and forwards the batch to the rest of its group through a ShardFanout of its
// own. A room with 400 shards then makes 20 calls a batch instead of 400, each relay 19, at the
// price of one more hop (a few milliseconds) for the relayed shards. While the shard list is stable
// each shard hears every batch through the same lane, so in order; when the list changes (a shard
// opens or goes quiet) a shard can change group, and the first batch through its new lane may
// overtake the last one through the old. The same groups carry messages the other way: see
// submitRelayFor.
import type { FanoutBatch } from './types.ts';

/** A merged batch never claims more than this window: it sets the sampling budget. */
const MAX_WINDOW_MS = 1000;
/**
 * Shards one call serves, the relay's own and those it forwards to: above this many shards a room
 * uses relays (the CHAT_RELAY_GROUP_SIZE var overrides it). 20 keeps both the room and each relay
 * at ~200 calls/s at 10 batches/s (docs/capacity.md).
 */
export const RELAY_GROUP_SIZE = 20;
/** What a relay accepts to forward to, whatever a caller asks: a bound on one call's work. */
export const MAX_RELAY_FORWARDS = 100;

/** One call of a batch: to `shard`, which forwards it to `forward` (empty: no relaying). */
export interface FanoutTarget {
  shard: string;
  forward: readonly string[];
}

export type DeliverToShard = (
  shardName: string,
  batch: FanoutBatch,
  forward: readonly string[],
) => Promise<void>;

interface ShardLane {
  inFlight: Promise<void> | null;
  waiting: FanoutBatch | null;
  /** The shards the waiting batch is to be forwarded to (the union of the merged batches'). */
  waitingForward: Set<string>;
}

/**
 * What a relay forwards to: the channel's own JSON shards (`${channelId}:${n}`) and the IRC pool
 * (`irc:${n}`), the names chat-shard.ts gives, never any other object a caller might name.
 */
export function isShardOfChannel(name: string, channelId: string): boolean {
  const own = `${channelId}:`;
  const index = name.startsWith(own) ? name.slice(own.length) : name.startsWith('irc:') ? name.slice(4) : '';
  return /^\d{1,6}$/.test(index);
}

/**
 * Where a shard sends its users' messages (the incoming half of the relay level): shards of the
 * first group (`${channelId}:0` to `:${groupSize - 1}`) and IRC pool shards call the room
 * themselves; a later JSON shard calls the first shard of its group of `groupSize`, which submits
 * its own and its group's messages together. The room then has at most one caller per group plus
 * the first group and the IRC pool, each with one call in flight. Null: call the room.
 */
export function submitRelayFor(shardName: string, channelId: string, groupSize: number): string | null {
  const own = `${channelId}:`;
  if (!shardName.startsWith(own)) return null;
  const n = Number(shardName.slice(own.length));
  const size = Math.max(1, groupSize);
  if (!Number.isInteger(n) || n < size) return null;
  const leader = n - (n % size);
  return leader === n ? null : `${own}${leader}`;
}

/**
 * The calls for one batch: every shard directly while there are at most `groupSize`, else one call
 * per group of `groupSize` shards, to the group's first, which forwards to the others.
 */
export function planFanout(shardNames: readonly string[], groupSize: number): FanoutTarget[] {
  const size = Math.max(1, Math.min(groupSize, MAX_RELAY_FORWARDS + 1));
  if (shardNames.length <= size) return shardNames.map((shard) => ({ shard, forward: [] }));
  const targets: FanoutTarget[] = [];
  for (let i = 0; i < shardNames.length; i += size) {
    const [shard, ...forward] = shardNames.slice(i, i + size);
    if (shard !== undefined) targets.push({ shard, forward });
  }
  return targets;
}

export class ShardFanout {
  private readonly lanes = new Map<string, ShardLane>();
  private readonly deliver: DeliverToShard;
  private readonly onError: (shardName: string, error: unknown) => void;

  constructor(deliver: DeliverToShard, onError: (shardName: string, error: unknown) => void) {
    this.deliver = deliver;
    this.onError = onError;
  }

  /**
   * Queues `batch` for every shard named and returns at once: ordering per shard does not depend
   * on the caller waiting, and the room must not wait (its next batch is due in 100 ms).
   */
  send(targets: readonly FanoutTarget[], batch: FanoutBatch): void {
    for (const { shard: name, forward } of targets) {
      const lane = this.lanes.get(name);
      if (lane) {
        lane.waiting = lane.waiting ? mergeBatches(lane.waiting, batch) : batch;
        for (const f of forward) lane.waitingForward.add(f);
        continue;
      }
      const fresh: ShardLane = { inFlight: null, waiting: null, waitingForward: new Set() };
      this.lanes.set(name, fresh);
      fresh.inFlight = this.runDelivery(name, fresh, batch, forward);
    }
  }

  /** Resolves once no shard has a batch in flight or waiting (tests and shutdown wait on it). */
  async settle(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes.values()].map((lane) => lane.inFlight));
  }

  private async runDelivery(
    name: string,
    lane: ShardLane,
    batch: FanoutBatch,
    forward: readonly string[],
  ): Promise<void> {
    try {
      await this.deliver(name, batch, forward);
    } catch (error) {
      // One unreachable shard must not hold back the others; its next census report (or its
      // absence) settles whether it still has viewers.
      this.onError(name, error);
    }
    lane.inFlight = null;
    const next = lane.waiting;
    const nextForward = [...lane.waitingForward];
    lane.waiting = null;
    lane.waitingForward = new Set();
    if (next) lane.inFlight = this.runDelivery(name, lane, next, nextForward);
    else this.lanes.delete(name);
  }
}

function mergeBatches(a: FanoutBatch, b: FanoutBatch): FanoutBatch {
  return {
    channel: b.channel,
    windowMs: Math.min(MAX_WINDOW_MS, a.windowMs + b.windowMs),
    ...(b.samplePerSecond === undefined ? {} : { samplePerSecond: b.samplePerSecond }),
    events: [...a.events, ...b.events],
  };
}
