// The Worker as the workerd tests run it (vitest.workers.config.ts `main`): everything
// workers/index.ts exports, with LiveStream replaced by a subclass that lets one test scenario
// shorten an instance's timings or swap its event queue. The production class takes its timings
// once, from its constructor, and has no such methods.
import { LiveStream as ProductionLiveStream } from '../../durable-objects/live-stream/live-stream.ts';
import type { LiveStreamTimings } from '../../durable-objects/live-stream/types.ts';

export * from '../../workers/index.ts';
export { default } from '../../workers/index.ts';

export class LiveStream extends ProductionLiveStream {
  /** This instance's timings from now on, e.g. a reconnect window of 0 to end a stream at the next alarm. */
  setTimings(timings: Partial<LiveStreamTimings>): void {
    this.timings = { ...this.timings, ...timings };
  }

  /** The queue this instance sends stream.started/stream.ended to: a fake that records or fails. */
  setStreamEvents(queue: Queue): void {
    this.env = { ...this.env, STREAM_EVENTS: queue };
  }
}
