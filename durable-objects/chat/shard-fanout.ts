// How a room hands its batches to its shards without waiting on the slowest one. Each shard has
// at most one delivery in flight; batches flushed meanwhile are merged into one waiting batch for
// that shard and sent when the delivery returns. So the room keeps its ~100 ms rhythm whatever a
// shard's round trip costs, a shard always receives events in the order the room accepted them,
// and a slow shard costs its own viewers one bigger batch instead of a queue that grows without end.
import type { FanoutBatch } from './types.ts';

/** A merged batch never claims more than this window: it sets the sampling budget. */
const MAX_WINDOW_MS = 1000;

export type DeliverToShard = (shardName: string, batch: FanoutBatch) => Promise<void>;

interface ShardLane {
  inFlight: Promise<void> | null;
  waiting: FanoutBatch | null;
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
  send(shardNames: readonly string[], batch: FanoutBatch): void {
    for (const name of shardNames) {
      const lane = this.lanes.get(name);
      if (lane) {
        lane.waiting = lane.waiting ? mergeBatches(lane.waiting, batch) : batch;
        continue;
      }
      const fresh: ShardLane = { inFlight: null, waiting: null };
      this.lanes.set(name, fresh);
      fresh.inFlight = this.runDelivery(name, fresh, batch);
    }
  }

  /** Resolves once no shard has a batch in flight or waiting (tests and shutdown wait on it). */
  async settle(): Promise<void> {
    while (this.lanes.size > 0) await Promise.all([...this.lanes.values()].map((lane) => lane.inFlight));
  }

  private async runDelivery(name: string, lane: ShardLane, batch: FanoutBatch): Promise<void> {
    try {
      await this.deliver(name, batch);
    } catch (error) {
      // One unreachable shard must not hold back the others; its next census report (or its
      // absence) settles whether it still has viewers.
      this.onError(name, error);
    }
    lane.inFlight = null;
    const next = lane.waiting;
    lane.waiting = null;
    if (next) lane.inFlight = this.runDelivery(name, lane, next);
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
