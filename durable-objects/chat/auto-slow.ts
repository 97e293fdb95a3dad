// Automatic slow mode: when a channel's chat goes viral, slow mode comes on by itself and goes off
// again once the crowd calms down, at thresholds the streamer sets (chat settings). The rate is
// what people try to send (slow mode's own refusals included: they are the crowd it holds back),
// measured over windows of MEASURE_WINDOW_MS. On at the threshold; off after CALM_MS below half of
// it. A moderator who changes slow mode by hand takes over: the automatic mode lets go.
// Pure state over explicit times; the room (chat-room.ts) feeds it and applies its decisions.

export const MEASURE_WINDOW_MS = 5_000;
export const CALM_MS = 60_000;
export const MAX_AUTO_SLOW_THRESHOLD = 10_000;
/** Each viewer's sampling budget (chat/sampling.ts) can be set between these. */
export const MIN_SAMPLE_PER_SECOND = 5;
export const MAX_SAMPLE_PER_SECOND = 100;

export interface AutoSlowSettings {
  /** Messages per second that turn slow mode on; 0 leaves it to people. */
  auto_slow_messages_per_second: number;
  /** The slow mode applied, in seconds between messages. */
  auto_slow_seconds: number;
  /** Whether slow mode is on now because of this rule. */
  auto_slow_active: boolean;
  /** The slow mode now in force (RoomState). */
  slow_seconds: number;
}

export type AutoSlowDecision =
  | { kind: 'none' }
  | { kind: 'enable'; rate: number }
  | { kind: 'disable'; rate: number };

export class AutoSlowMode {
  #windowStart: number;
  #attempts = 0;
  #calmSince: number | null = null;

  constructor(now: number) {
    this.#windowStart = now;
  }

  /** One message someone tried to send. */
  observe(): void {
    this.#attempts++;
  }

  /** At most once per window: what to do about slow mode now. */
  decide(now: number, settings: AutoSlowSettings): AutoSlowDecision {
    const elapsed = now - this.#windowStart;
    if (elapsed < MEASURE_WINDOW_MS) return { kind: 'none' };
    const rate = (this.#attempts * 1000) / elapsed;
    this.#attempts = 0;
    this.#windowStart = now;
    const threshold = settings.auto_slow_messages_per_second;
    if (settings.auto_slow_active) {
      if (threshold === 0) return { kind: 'disable', rate };
      if (rate >= threshold / 2) {
        this.#calmSince = null;
        return { kind: 'none' };
      }
      this.#calmSince ??= now - elapsed;
      return now - this.#calmSince >= CALM_MS ? { kind: 'disable', rate } : { kind: 'none' };
    }
    this.#calmSince = null;
    // Slow mode a moderator set is theirs: the automatic rule only turns it on from off.
    if (threshold > 0 && rate >= threshold && settings.slow_seconds === 0) return { kind: 'enable', rate };
    return { kind: 'none' };
  }
}
