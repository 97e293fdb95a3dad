// The WebSocket messages a shard sends for one batch from the room. A shard holds hundreds of
// sockets that mostly receive the same thing, so each distinct payload is serialized once per batch
// and every socket gets a precomputed string: one `ws.send` per socket per batch, no JSON or IRC
// rendering in the per-socket loop. What makes payloads differ is (a) the protocol, (b) the
// sampling variant the socket drew, and (c) whether the socket's user wrote a message in the
// batch (JSON echoes it even when sampled out; IRC never echoes it).
import { computeSampleBudget, pickSample } from './sampling.ts';
import type { FanoutBatch, FanoutEvent } from './types.ts';

/**
 * Seed: "Show only 20 msgs/sec to each viewer (randomly sampled)". Drawing a fresh sample for every
 * socket would mean serializing a batch per socket again, so a shard draws this many samples per
 * batch and each socket picks one of them at random, anew every batch: over a few batches every
 * viewer still sees a uniform random share of the chat, while a shard serializes at most this
 * many payloads per protocol (plus one per user whose own message a sample left out).
 */
export const SAMPLE_VARIANTS = 4;

/** Who a payload is for: enough to pick its variant, nothing per socket beyond that. */
export interface Recipient {
  protocol: 'json' | 'irc';
  /** The signed-in user behind the socket; null when anonymous. */
  userId: string | null;
  /** IRC: the socket asked for twitch.tv/membership (others' JOIN/PART). */
  membership?: boolean;
}

export interface BatchRenderers {
  /** One event as the JSON text of a server frame (protocol/chat.ts); membership is IRC-only. */
  renderJson(event: Exclude<FanoutEvent, { kind: 'membership' }>): string;
  /** One event as an IRC line without CR LF; null when IRC has no such line. */
  renderIrc(event: FanoutEvent): string | null;
}

export class BatchPayloads {
  private readonly events: readonly FanoutEvent[];
  private readonly renderers: BatchRenderers;
  private readonly random: () => number;
  /** Each variant: the ascending event indices it delivers (priority events are in all of them). */
  private readonly variants: number[][];
  /** Message indices by author, for the own-message rules. */
  private readonly authored = new Map<string, number[]>();
  private readonly jsonParts: (string | undefined)[] = [];
  private readonly ircParts: (string | null | undefined)[] = [];
  private readonly payloads = new Map<string, string | null>();
  /** Users with a membership line in this batch. */
  private readonly membershipUsers = new Set<string>();

  /** `random` is a seam for tests; it picks both the samples and each socket's variant. */
  constructor(batch: FanoutBatch, renderers: BatchRenderers, random: () => number = Math.random) {
    this.events = batch.events;
    this.renderers = renderers;
    this.random = random;
    const always: number[] = [];
    const sampleable: number[] = [];
    batch.events.forEach((event, index) => {
      if (event.kind === 'membership') this.membershipUsers.add(event.userId);
      if (event.kind === 'message') {
        const own = this.authored.get(event.message.user.id);
        if (own) own.push(index);
        else this.authored.set(event.message.user.id, [index]);
      }
      if (event.kind === 'message' && !event.priority) sampleable.push(index);
      else always.push(index);
    });
    const budget = computeSampleBudget(batch.windowMs, batch.samplePerSecond);
    const variantCount = sampleable.length <= budget ? 1 : SAMPLE_VARIANTS;
    this.variants = Array.from({ length: variantCount }, () =>
      mergeSorted(
        always,
        pickSample(sampleable.length, budget, random).map((i) => sampleable[i] ?? i),
      ),
    );
  }

  /** The text to send to one socket, or null when nothing of this batch is for it. */
  payloadFor(recipient: Recipient): string | null {
    const variant = this.variants.length === 1 ? 0 : Math.floor(this.random() * this.variants.length);
    const own = recipient.userId === null ? undefined : this.authored.get(recipient.userId);
    // Membership lines (IRC, twitch.tv/membership) leave out the recipient's own JOIN/PART, which
    // its session echoes itself; without the capability a socket gets none.
    const membership = recipient.protocol === 'irc' && recipient.membership === true;
    const ownMembership =
      membership && recipient.userId !== null && this.membershipUsers.has(recipient.userId);
    const key =
      own || ownMembership
        ? `${recipient.protocol}:${variant}:${membership}:${recipient.userId}`
        : `${recipient.protocol}:${variant}:${membership}`;
    const cached = this.payloads.get(key);
    if (cached !== undefined) return cached;
    const base = this.variants[variant] ?? [];
    const payload =
      recipient.protocol === 'json'
        ? // A sender always sees their own message come back, sampled or not.
          this.renderJsonBatch(own ? mergeSorted(base, own) : base)
        : // Twitch does not echo a user's own PRIVMSG back to them.
          this.renderIrcBatch(
            base.filter((i) => {
              if (own?.includes(i)) return false;
              const event = this.events[i];
              if (event?.kind !== 'membership') return true;
              return membership && event.userId !== recipient.userId;
            }),
          );
    this.payloads.set(key, payload);
    return payload;
  }

  private renderJsonBatch(indices: readonly number[]): string | null {
    const parts: string[] = [];
    for (const index of indices) {
      let part = this.jsonParts[index];
      const event = this.events[index];
      if (event?.kind === 'membership') continue;
      if (part === undefined && event) {
        part = this.renderers.renderJson(event);
        this.jsonParts[index] = part;
      }
      if (part !== undefined) parts.push(part);
    }
    if (parts.length === 0) return null;
    // Equal to JSON.stringify({ type: 'batch', frames }) without stringifying the frames again.
    return `{"type":"batch","frames":[${parts.join(',')}]}`;
  }

  /**
   * Twitch sends several IRC lines in one WebSocket message, separated by CR LF, and Twitch
   * clients (tmi.js among them) split on it. Every line is rendered with the full tag set, as
   * tmi.twitch.tv does once a client requested twitch.tv/tags, so one rendering per channel serves
   * every IRC socket.
   */
  private renderIrcBatch(indices: readonly number[]): string | null {
    const lines: string[] = [];
    for (const index of indices) {
      let line = this.ircParts[index];
      const event = this.events[index];
      if (line === undefined && event) {
        line = this.renderers.renderIrc(event);
        this.ircParts[index] = line;
      }
      if (typeof line === 'string') lines.push(line);
    }
    // Each line ends with CR LF, the last one too (chat-shard.ts sendIrc says why).
    return lines.length > 0 ? `${lines.join('\r\n')}\r\n` : null;
  }
}

/** The union of two ascending index lists, ascending and without repeats. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}
