// The engagement tests' seam: the test subclass of ChannelEngagement (test/worker/test-entry.ts)
// moves its clock and credits points without minutes of watching. Checked, not cast: the Worker
// under test must be the test entry.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import type { ChannelEngagement as ProductionChannelEngagement } from '../../durable-objects/channel-engagement/channel-engagement.ts';
import { ChannelEngagement } from './test-entry.ts';

export type EngagementStub = DurableObjectStub<ProductionChannelEngagement>;

export function getEngagementStub(channelId: string): EngagementStub {
  return env.CHANNEL_ENGAGEMENT.getByName(channelId);
}

export function runInTestEngagement<R>(
  stub: EngagementStub,
  fn: (instance: ChannelEngagement) => R | Promise<R>,
): Promise<R> {
  return runInDurableObject(stub, (instance) => {
    if (!(instance instanceof ChannelEngagement))
      throw new Error('the Worker under test is not test/worker/test-entry.ts');
    return fn(instance);
  });
}

/** Credits points as watching would (the subclass's grantPoints). */
export function grantPoints(channelId: string, userId: string, amount: number): Promise<void> {
  return runInTestEngagement(getEngagementStub(channelId), (instance) =>
    instance.grantPoints(userId, amount),
  );
}

/** Moves the object's clock forward (poll ends, prediction windows, cooldowns, watch time). */
export function advanceClock(channelId: string, ms: number): Promise<void> {
  return runInTestEngagement(getEngagementStub(channelId), (instance) => instance.advanceClock(ms));
}
