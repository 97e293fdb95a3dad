// The Worker as the workerd tests run it (vitest.workers.config.ts `main`): everything
// workers/index.ts exports, with LiveStream replaced by a subclass that lets one test scenario
// shorten an instance's timings or swap its event queue (and ChannelEngagement by one whose clock
// a test moves). The production class takes its timings
// once, from its constructor, and has no such methods.
import { ChannelEngagement as ProductionChannelEngagement } from '../../durable-objects/channel-engagement/channel-engagement.ts';
import { ISSUANCE_ACCOUNT, userAccount } from '../../durable-objects/channel-engagement/points-ledger.ts';
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

/**
 * ChannelEngagement with a clock the test moves forward: watch time, poll ends and prediction
 * windows are minutes long, and time stands still in workerd.
 */
export class ChannelEngagement extends ProductionChannelEngagement {
  #offsetMs = 0;

  protected override now(): number {
    return Date.now() + this.#offsetMs;
  }

  advanceClock(ms: number): void {
    this.#offsetMs += ms;
  }

  /** Credits points as watching would, without minutes of presence signals. */
  grantPoints(userId: string, amount: number): void {
    this.ledger.transfer({
      id: `test-grant:${crypto.randomUUID()}`,
      kind: 'watch',
      from: ISSUANCE_ACCOUNT,
      to: userAccount(userId),
      amount,
      now: this.now(),
    });
  }

  /** Any ledger account's balance (a prediction's pot, the redemptions account). */
  readAccount(account: string): number {
    return this.ledger.readBalance(account);
  }
}
