// The rules a chat message must pass before the room accepts it. Pure: the room hands in what it
// knows (profile, modes, the sender's last message, recent messages) and gets back the first
// refusal, in the order Twitch reports them.
import { type ChatErrorCode, MAX_MESSAGE_LENGTH, type RoomState } from '../../protocol/chat.ts';
import { type ChatterProfile, isPrivileged } from './badges.ts';

/** Seed rule: "rate limiting (max 1 msg per 1.5s per user)". */
export const USER_MESSAGE_INTERVAL_MS = 1_500;
/** Unique-chat (R9K) compares against messages from the last 30 s... */
export const UNIQUE_CHAT_WINDOW_MS = 30_000;
/** ...and at most this many of them. */
export const UNIQUE_CHAT_MAX_MESSAGES = 200;

export interface Refusal {
  code: ChatErrorCode;
  message: string;
  retryAfterMs?: number;
}

export interface MessageContext {
  profile: ChatterProfile;
  content: string;
  state: RoomState;
  bannedWords: readonly string[];
  now: number;
  /** Active ban or timeout of the sender (expired ones are not passed). */
  ban: { expiresAt: number | null } | null;
  /** When the sender's last accepted message was, or null. */
  lastMessageAt: number | null;
  /** Whether every word is an emote the sender may use. */
  emoteOnly: boolean;
  /** Normalized contents of recent messages (see normalizeForUniqueChat). */
  recentContents: ReadonlySet<string>;
}

/** R9K ignores case and runs of whitespace: "GG  gg" repeats "gg gg". */
export function normalizeForUniqueChat(content: string): string {
  return content.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Whole-word or substring match, case-insensitive: a banned word hides inside no other word. */
export function findBannedWord(content: string, bannedWords: readonly string[]): string | null {
  const lower = content.toLowerCase();
  return bannedWords.find((word) => word.length > 0 && lower.includes(word.toLowerCase())) ?? null;
}

export function checkMessage(ctx: MessageContext): Refusal | null {
  const { profile, state, now } = ctx;
  if (ctx.ban) {
    if (ctx.ban.expiresAt === null)
      return { code: 'banned', message: 'You are permanently banned from talking in this channel.' };
    const retryAfterMs = ctx.ban.expiresAt - now;
    return {
      code: 'timed_out',
      message: `You are timed out for ${Math.ceil(retryAfterMs / 1000)} more seconds.`,
      retryAfterMs,
    };
  }
  if (ctx.content.trim().length === 0) return { code: 'invalid_frame', message: 'Empty message.' };
  if (ctx.content.length > MAX_MESSAGE_LENGTH) {
    return { code: 'msg_too_long', message: `Messages are at most ${MAX_MESSAGE_LENGTH} characters.` };
  }
  // The broadcaster and moderators are exempt from chat modes and rate limits, as on Twitch.
  if (isPrivileged(profile)) return null;
  if (findBannedWord(ctx.content, ctx.bannedWords) !== null) {
    return {
      code: 'banned_word',
      message: 'Your message was not sent: it contains a term blocked in this channel.',
    };
  }
  if (state.subscribers_only && !profile.subscription && !profile.isVip) {
    return { code: 'subs_only', message: 'This room is in subscribers-only mode.' };
  }
  if (state.followers_only_minutes >= 0) {
    const minFollowMs = state.followers_only_minutes * 60_000;
    if (profile.followedAt === null || now - profile.followedAt < minFollowMs) {
      return {
        code: 'followers_only',
        message:
          state.followers_only_minutes === 0
            ? 'This room is in followers-only mode. Follow to join the conversation.'
            : `This room is in ${state.followers_only_minutes}-minute followers-only mode.`,
      };
    }
  }
  if (state.emote_only && !ctx.emoteOnly)
    return { code: 'emote_only', message: 'This room is in emote-only mode.' };
  if (ctx.lastMessageAt !== null) {
    const sinceLast = now - ctx.lastMessageAt;
    if (state.slow_seconds > 0 && sinceLast < state.slow_seconds * 1000) {
      return {
        code: 'slow_mode',
        message: `This room is in slow mode: you may send a message every ${state.slow_seconds} seconds.`,
        retryAfterMs: state.slow_seconds * 1000 - sinceLast,
      };
    }
    if (sinceLast < USER_MESSAGE_INTERVAL_MS) {
      return {
        code: 'rate_limited',
        message: 'You are sending messages too quickly.',
        retryAfterMs: USER_MESSAGE_INTERVAL_MS - sinceLast,
      };
    }
  }
  if (state.unique_chat && ctx.recentContents.has(normalizeForUniqueChat(ctx.content))) {
    return {
      code: 'duplicate',
      message: 'This room is in unique-chat mode and the message you posted is not original.',
    };
  }
  return null;
}
