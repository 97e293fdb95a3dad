// Emote parsing: which words of a message are emotes the sender may use, with their positions.
import type { EmoteRef } from '../../protocol/chat.ts';

export interface EmoteDefinition {
  id: string;
  name: string;
  /** null for a global emote. */
  channelId: string | null;
  subscriberOnly: boolean;
}

export function buildEmoteUrl(id: string): string {
  return `/api/v1/emotes/${id}/image`;
}

/**
 * Finds emotes among the space-separated words of `content`. Positions are inclusive [start, end]
 * UTF-16 offsets. Subscriber-only emotes count only for subscribers (and the broadcaster, whose
 * emotes they are); for everyone else the word stays plain text.
 */
export function parseEmotes(
  content: string,
  emotes: ReadonlyMap<string, EmoteDefinition>,
  canUseSubscriberEmotes: boolean,
): EmoteRef[] {
  const found = new Map<string, EmoteRef>();
  let start = 0;
  for (const word of content.split(' ')) {
    const emote = emotes.get(word);
    if (emote && (!emote.subscriberOnly || canUseSubscriberEmotes)) {
      const ref = found.get(emote.id) ?? {
        id: emote.id,
        name: emote.name,
        positions: [],
        url: buildEmoteUrl(emote.id),
      };
      ref.positions.push([start, start + word.length - 1]);
      found.set(emote.id, ref);
    }
    start += word.length + 1;
  }
  return [...found.values()];
}

/** Emote-only mode: every non-blank word must be an emote the sender may use. */
export function isEmoteOnly(content: string, emoteRefs: readonly EmoteRef[]): boolean {
  const emoteWords = emoteRefs.reduce((n, ref) => n + ref.positions.length, 0);
  const words = content.split(' ').filter((word) => word.length > 0).length;
  return words > 0 && emoteWords === words;
}
