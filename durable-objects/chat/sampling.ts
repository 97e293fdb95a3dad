// Sampling: when a channel's chat outruns what a person can read, each viewer gets a random
// sample. Seed rule: "Show only 20 msgs/sec to each viewer (randomly sampled); highlighted
// messages always shown."

/** What one viewer can read: beyond it, messages are sampled. */
export const MAX_MESSAGES_PER_VIEWER_PER_SECOND = 20;

/** How many sampled messages one viewer gets from a batch covering `windowMs`. */
export function computeSampleBudget(
  windowMs: number,
  perSecond = MAX_MESSAGES_PER_VIEWER_PER_SECOND,
): number {
  return Math.max(1, Math.round((perSecond * windowMs) / 1000));
}

/**
 * Picks which of `count` sampleable items one viewer receives: all when they fit the budget,
 * else `budget` distinct indices chosen uniformly (partial Fisher–Yates), in their original order
 * so the chat still reads top to bottom. `random` is a seam for tests.
 */
export function pickSample(count: number, budget: number, random: () => number = Math.random): number[] {
  if (count <= budget) return Array.from({ length: count }, (_, i) => i);
  const indices = Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < budget; i++) {
    const j = i + Math.floor(random() * (count - i));
    const swap = indices[i] ?? i;
    indices[i] = indices[j] ?? j;
    indices[j] = swap;
  }
  return indices.slice(0, budget).sort((a, b) => a - b);
}
