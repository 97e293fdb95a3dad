// The rules a message passes on its way into the room (chat/rules.ts), with the little state they
// need across messages: each sender's last accepted message (rate limit, slow mode) and the recent
// messages unique-chat compares against. On acceptance it builds the message as every client sees
// it: emotes found, the sender rendered with badges, colour and an honest display name. A message
// with `Cheer100` tokens carries its bits and is highlighted (never sampled away); the room debits
// them before sending it, and reverts the intake's record if the debit is refused.
import type { ChatMessage } from '../../protocol/chat.ts';
import { type ChatterProfile, formatDisplayName, listBadges, pickColor } from '../chat/badges.ts';
import { parseCheer } from '../chat/cheers.ts';
import { type EmoteDefinition, isEmoteOnly, parseEmotes } from '../chat/emotes.ts';
import {
  checkMessage,
  normalizeForUniqueChat,
  UNIQUE_CHAT_MAX_MESSAGES,
  UNIQUE_CHAT_WINDOW_MS,
} from '../chat/rules.ts';
import type { BanRecord, ChatSettings, SubmitResult } from '../chat/types.ts';

/** What the room knows at the moment a message arrives. */
export interface IntakeContext {
  channelId: string;
  settings: ChatSettings;
  /** The sender's active ban or timeout, or null. */
  ban: BanRecord | null;
}

export type IntakeResult =
  | Extract<SubmitResult, { kind: 'error' }>
  | {
      kind: 'accepted';
      message: ChatMessage;
      /** Forgets this message (rate limit, unique chat) when it is not sent after all (a refused cheer). */
      revert: () => void;
    };

/** How a user appears in chat: `name` is the login, `display_name` never impersonates (badges.ts). */
export function renderUser(profile: ChatterProfile): ChatMessage['user'] {
  return {
    id: profile.id,
    name: profile.login,
    display_name: formatDisplayName(profile.displayName, profile.login),
    color: pickColor(profile.id),
    badges: listBadges(profile),
  };
}

const NO_CONTENTS: ReadonlySet<string> = new Set();

export class MessageIntake {
  readonly #lastMessageAt = new Map<string, number>();
  /** Accepted messages, oldest first, within UNIQUE_CHAT_WINDOW_MS and UNIQUE_CHAT_MAX_MESSAGES. */
  #recent: { normalized: string; at: number }[] = [];

  /** Drops what unique chat no longer compares against: from the front, as they arrived in order. */
  #forgetOldRecent(now: number): void {
    let expired = 0;
    while (expired < this.#recent.length && now - (this.#recent[expired]?.at ?? now) > UNIQUE_CHAT_WINDOW_MS)
      expired += 1;
    const drop = Math.max(expired, this.#recent.length - UNIQUE_CHAT_MAX_MESSAGES);
    if (drop > 0) this.#recent.splice(0, drop);
  }

  accept(
    profile: ChatterProfile,
    content: string,
    emoteDefinitions: ReadonlyMap<string, EmoteDefinition>,
    context: IntakeContext,
    now: number,
  ): IntakeResult {
    const emotes = parseEmotes(
      content,
      emoteDefinitions,
      profile.subscription !== null || profile.isBroadcaster,
    );
    this.#forgetOldRecent(now);
    const { banned_words: bannedWords, ...state } = context.settings;
    const refusal = checkMessage({
      profile,
      content,
      state,
      bannedWords,
      now,
      ban: context.ban ? { expiresAt: context.ban.expires_at } : null,
      lastMessageAt: this.#lastMessageAt.get(profile.id) ?? null,
      emoteOnly: isEmoteOnly(content, emotes),
      // Built only in unique-chat mode: every message of a busy room paid for 200 normalized strings.
      recentContents: state.unique_chat
        ? new Set(this.#recent.map((entry) => entry.normalized))
        : NO_CONTENTS,
    });
    const cheer = parseCheer(content);
    if (!refusal && cheer.kind === 'too-many') {
      return { kind: 'error', code: 'invalid_message', message: cheer.message };
    }
    if (refusal) {
      return refusal.retryAfterMs === undefined
        ? { kind: 'error', code: refusal.code, message: refusal.message }
        : {
            kind: 'error',
            code: refusal.code,
            message: refusal.message,
            retryAfterMs: Math.ceil(refusal.retryAfterMs),
          };
    }
    const previousAt = this.#lastMessageAt.get(profile.id);
    const recentEntry = { normalized: normalizeForUniqueChat(content), at: now };
    this.#lastMessageAt.set(profile.id, now);
    this.#recent.push(recentEntry);
    const revert = () => {
      if (this.#lastMessageAt.get(profile.id) === now) {
        if (previousAt === undefined) this.#lastMessageAt.delete(profile.id);
        else this.#lastMessageAt.set(profile.id, previousAt);
      }
      this.#recent = this.#recent.filter((entry) => entry !== recentEntry);
    };
    return {
      kind: 'accepted',
      revert,
      message: {
        type: 'chat_message',
        id: crypto.randomUUID(),
        channel_id: context.channelId,
        user: renderUser(profile),
        content,
        emotes,
        timestamp: new Date(now).toISOString(),
        ...(cheer.kind === 'cheer' ? { bits: cheer.bits, highlighted: true } : {}),
      },
    };
  }
}
