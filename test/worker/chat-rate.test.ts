// The shard's per-user chat rate as a client sees it (durable-objects/chat-shard/flood-control.ts):
// a notice that says how long to wait, drops only for messages sent inside that wait, a close for a
// client that keeps ignoring it, and a fresh notice (never a close) for one that waited.
import { describe, expect, it } from 'vitest';
import {
  CHAT_MESSAGE_WINDOW_MS,
  CHAT_MESSAGES_PER_WINDOW,
  ChatMessageRate,
  createBudget,
  MAX_DROPPED_AFTER_NOTICE,
} from '../../durable-objects/chat-shard/flood-control.ts';

const CHANNEL = 'channel-1';
const USER = 'user-1';
/** One message's worth of the ordinary rate: 30 s / 20. */
const REFILL_MS = CHAT_MESSAGE_WINDOW_MS / CHAT_MESSAGES_PER_WINDOW;

function exhaust(rate: ChatMessageRate, budget: ReturnType<typeof createBudget>, now: number): void {
  for (let i = 0; i < CHAT_MESSAGES_PER_WINDOW; i++)
    expect(rate.take(CHANNEL, USER, budget, now)).toBe('send');
}

describe('chat rate verdicts', () => {
  it('tells the wait with the notice, drops what comes inside it, and closes a client that ignores it', () => {
    const rate = new ChatMessageRate();
    const budget = createBudget(0);
    exhaust(rate, budget, 0);
    expect(rate.take(CHANNEL, USER, budget, 0)).toBe('notify');
    expect(rate.waitMs(CHANNEL, USER, 0)).toBe(REFILL_MS);
    expect(budget.chatRetryAt).toBe(REFILL_MS);
    for (let i = 1; i <= MAX_DROPPED_AFTER_NOTICE; i++)
      expect(rate.take(CHANNEL, USER, budget, i * 10)).toBe('drop');
    expect(rate.take(CHANNEL, USER, budget, 100)).toBe('close');
  });

  it('sends the message of a client that waited, and tells it again when another socket took the token', () => {
    const rate = new ChatMessageRate();
    const first = createBudget(0);
    const second = createBudget(0);
    exhaust(rate, first, 0);
    expect(rate.take(CHANNEL, USER, first, 0)).toBe('notify');
    // The wait passes; the user's other socket spends the one message it freed.
    expect(rate.take(CHANNEL, USER, second, REFILL_MS)).toBe('send');
    // The first socket waited as told: a new notice with a new wait, not a drop toward the close.
    for (let round = 1; round <= MAX_DROPPED_AFTER_NOTICE + 2; round++) {
      const now = REFILL_MS + (round - 1) * REFILL_MS;
      const retryAt = first.chatRetryAt ?? 0;
      expect(now).toBeGreaterThanOrEqual(retryAt);
      if (round > 1) expect(rate.take(CHANNEL, USER, second, now)).toBe('send');
      expect(rate.take(CHANNEL, USER, first, now)).toBe('notify');
    }
    expect(first.chatDropped).toBe(0);
    // Once the wait is honoured with nobody else sending, the message goes.
    expect(rate.take(CHANNEL, USER, first, first.chatRetryAt ?? 0)).toBe('send');
  });
});
