// What one socket may cost a shard, enforced where the work is done and before any of it is queued
// (docs/security.md, "anonymous chat work amplification"): lines per second (an IRC frame of 50
// lines is 50 lines, not one frame), channel joins per ten seconds (each one is a D1 lookup and an
// RPC), credential attempts per socket (each one is a D1 lookup), and frames waiting behind the
// one in progress (each waits on RPCs; a queue that grows without end is memory without end).
// Buckets live in memory: a hibernating shard is by definition not being flooded.
//
// Chat messages are also limited per user and channel here, before the room (ChatMessageRate):
// a message over the rate is dropped at the shard and costs the room nothing.

/** Lines (IRC) or frames (JSON) per second, sustained; bursts up to twice that. */
export const MAX_LINES_PER_SECOND = 20;
export const LINE_BURST = 2 * MAX_LINES_PER_SECOND;
/** Twitch: "20 JOIN attempts per 10 seconds per user". Past it, targets are refused unread. */
export const MAX_JOINS_PER_WINDOW = 20;
export const JOIN_WINDOW_MS = 10_000;
/** Token lookups one socket may cause (IRC PASS, JSON auth); the next one closes it with 1008. */
export const MAX_CREDENTIAL_ATTEMPTS = 3;
/** Frames waiting behind the one being handled; one more closes the socket with 1008. */
export const MAX_QUEUED_FRAMES = 10;

/**
 * Twitch's chat rate (https://dev.twitch.tv/docs/chat/#rate-limits): 20 messages per 30 seconds
 * for ordinary users, 100 per 30 seconds where the user is the broadcaster or a moderator. The
 * room applies its own rules after this (chat/rules.ts: one message per 1.5 s, slow mode).
 */
export const CHAT_MESSAGES_PER_WINDOW = 20;
export const ELEVATED_CHAT_MESSAGES_PER_WINDOW = 100;
export const CHAT_MESSAGE_WINDOW_MS = 30_000;
/**
 * Messages sent inside the wait a rate notice gave (its `retry_after_ms`; the web app holds its
 * input that long) that are dropped before the next closes the socket (1008). Was 10: each of a
 * flooder's sockets then cost a shard twice the frames (bench/chat/chat-hostile.ts, signed-in
 * attackers: 2,226 frames a run, 1,127 with 3).
 */
export const MAX_DROPPED_AFTER_NOTICE = 3;
/** Users (per channel) whose chat rate one shard remembers; idle ones are forgotten first. */
export const MAX_TRACKED_CHATTERS = 10_000;

/**
 * Close reasons (all with 1008) that mean the client flooded, as opposed to policy closes such as
 * "session ended": the socket's seat is released with FLOOD_PENALTY (seats.ts).
 */
export const FLOOD_CLOSE_REASONS: ReadonlySet<string> = new Set([
  'frame too large',
  'too many frames',
  'too many pending frames',
  'chat flood',
  'too many credential attempts',
]);

/** A token bucket: `capacity` at most, refilled at `perSecond`. */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perSecond: number;
  #tokens: number;
  #refilledAt: number;

  constructor(capacity: number, perSecond: number, now: number) {
    this.#capacity = capacity;
    this.#perSecond = perSecond;
    this.#tokens = capacity;
    this.#refilledAt = now;
  }

  /** Takes `count` tokens if there are that many; false (and nothing taken) otherwise. */
  take(count: number, now: number): boolean {
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond,
    );
    this.#refilledAt = now;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Milliseconds until `count` tokens are there (0 when they are now). */
  waitMs(count: number, now: number): number {
    const tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond,
    );
    return tokens >= count ? 0 : Math.ceil(((count - tokens) / this.#perSecond) * 1000);
  }

  /** Whether the bucket has refilled completely (its owner has been idle). */
  isFull(now: number): boolean {
    return this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond >= this.#capacity;
  }
}

function createChatBucket(elevated: boolean, now: number): TokenBucket {
  const perWindow = elevated ? ELEVATED_CHAT_MESSAGES_PER_WINDOW : CHAT_MESSAGES_PER_WINDOW;
  return new TokenBucket(perWindow, (perWindow * 1000) / CHAT_MESSAGE_WINDOW_MS, now);
}

/** What chat shows of a user: moderators and the broadcaster carry those badges. */
interface RenderedUser {
  id: string;
  badges: readonly { id: string }[];
}

/** What the shard does with one chat message of a signed-in socket. */
export type ChatRateVerdict = 'send' | 'notify' | 'drop' | 'close';

/**
 * Per user and channel, on this shard: a token bucket of CHAT_MESSAGES_PER_WINDOW (or the elevated
 * rate, learned from the badges the room renders for the user) refilled over CHAT_MESSAGE_WINDOW_MS.
 * Over it, the first message of a window is answered with a notice saying when the next would go;
 * messages sent before then are dropped unanswered, and one past MAX_DROPPED_AFTER_NOTICE closes the
 * socket: a client that ignores the notice is a flood, not a chatter. One that waited and is still
 * over (the user's other sockets took the token) is told again, not counted.
 */
export class ChatMessageRate {
  readonly #users = new Map<string, { bucket: TokenBucket; elevated: boolean }>();

  /** Records whether the room renders `user` as the broadcaster or a moderator of the channel. */
  learn(channelId: string, user: RenderedUser | null, now: number): void {
    if (!user) return;
    const elevated = user.badges.some((b) => b.id === 'broadcaster' || b.id === 'moderator');
    const key = `${channelId}:${user.id}`;
    const entry = this.#users.get(key);
    if (entry?.elevated === elevated) return;
    if (!entry && !elevated) return; // The default: nothing to remember yet.
    this.#remember(key, { bucket: createChatBucket(elevated, now), elevated });
  }

  /** When the user's next message would be sent: the wait a rate notice tells the client. */
  waitMs(channelId: string, userId: string, now: number): number {
    return this.#users.get(`${channelId}:${userId}`)?.bucket.waitMs(1, now) ?? 0;
  }

  take(channelId: string, userId: string, budget: SocketBudget, now: number): ChatRateVerdict {
    const key = `${channelId}:${userId}`;
    let entry = this.#users.get(key);
    if (!entry) {
      entry = { bucket: createChatBucket(false, now), elevated: false };
      this.#remember(key, entry);
    }
    if (entry.bucket.take(1, now)) return 'send';
    const freshWindow = budget.chatNoticeAt === null || now - budget.chatNoticeAt >= CHAT_MESSAGE_WINDOW_MS;
    // A client that waited what its last notice said (another socket of the user may have taken
    // the message it waited for) is told again; only messages sent inside the wait count as drops.
    const waited = budget.chatRetryAt !== null && now >= budget.chatRetryAt;
    if (freshWindow || waited) {
      if (freshWindow) {
        budget.chatNoticeAt = now;
        budget.chatDropped = 0;
      }
      budget.chatRetryAt = now + entry.bucket.waitMs(1, now);
      return 'notify';
    }
    budget.chatDropped++;
    return budget.chatDropped > MAX_DROPPED_AFTER_NOTICE ? 'close' : 'drop';
  }

  /** Memory stays bounded: past MAX_TRACKED_CHATTERS, idle users go first, then the oldest. */
  #remember(key: string, entry: { bucket: TokenBucket; elevated: boolean }): void {
    this.#users.delete(key);
    if (this.#users.size >= MAX_TRACKED_CHATTERS) {
      const now = Date.now();
      for (const [other, { bucket }] of this.#users) if (bucket.isFull(now)) this.#users.delete(other);
      while (this.#users.size >= MAX_TRACKED_CHATTERS) {
        const oldest = this.#users.keys().next().value;
        if (oldest === undefined) break;
        this.#users.delete(oldest);
      }
    }
    this.#users.set(key, entry);
  }
}

/** One socket's budgets. */
export interface SocketBudget {
  lines: TokenBucket;
  joins: TokenBucket;
  /** Frames accepted and not yet handled, the one in progress included. */
  queued: number;
  /** The tail of the socket's frame chain: frames are handled in the order they arrived. */
  tail: Promise<void>;
  /** When the socket was last told it is over the chat rate (ChatMessageRate), and drops since. */
  chatNoticeAt: number | null;
  chatDropped: number;
  /** When the last notice said the next message would go (its `retry_after_ms`). */
  chatRetryAt: number | null;
}

export function createBudget(now: number): SocketBudget {
  return {
    lines: new TokenBucket(LINE_BURST, MAX_LINES_PER_SECOND, now),
    joins: new TokenBucket(MAX_JOINS_PER_WINDOW, (MAX_JOINS_PER_WINDOW * 1000) / JOIN_WINDOW_MS, now),
    queued: 0,
    tail: Promise.resolve(),
    chatNoticeAt: null,
    chatDropped: 0,
    chatRetryAt: null,
  };
}

/** The lines of an IRC frame that carry something (empty lines cost nothing and do nothing). */
export function splitIrcLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => line.length > 0);
}
