// Cheers: `Cheer100` tokens in a chat message carry bits from the sender's balance to the channel
// (docs/payments.md). Twitch's cheermote syntax is a prefix and an amount as its own word
// (https://dev.twitch.tv/docs/irc/tags/#privmsg-tags, `bits`); only the `Cheer` prefix exists here.

/** At most this many bits in one message, and this many cheer tokens, so one message's work is bounded. */
export const MAX_BITS_PER_MESSAGE = 100_000;
export const MAX_CHEER_TOKENS = 50;

const CHEER_TOKEN = /(?<=^|\s)cheer([1-9][0-9]{0,5})(?=\s|$)/gi;

/** Twitch's cheermote tiers (the colour and image a token shows): the tier's lowest amount. */
export const CHEERMOTE_TIERS = [1, 100, 1000, 5000, 10_000] as const;

export function findCheermoteTier(bits: number): number {
  return CHEERMOTE_TIERS.filter((tier) => bits >= tier).at(-1) ?? 1;
}

export type CheerParse =
  | { kind: 'none' }
  | { kind: 'cheer'; bits: number }
  | { kind: 'too-many'; message: string };

export function parseCheer(content: string): CheerParse {
  let bits = 0;
  let tokens = 0;
  for (const match of content.matchAll(CHEER_TOKEN)) {
    tokens += 1;
    bits += Number(match[1]);
    if (tokens > MAX_CHEER_TOKENS || bits > MAX_BITS_PER_MESSAGE) {
      return {
        kind: 'too-many',
        message: `A message cheers at most ${MAX_BITS_PER_MESSAGE} bits in ${MAX_CHEER_TOKENS} tokens.`,
      };
    }
  }
  return bits === 0 ? { kind: 'none' } : { kind: 'cheer', bits };
}
