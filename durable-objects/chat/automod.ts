// AutoMod: the checks that hold a message for a moderator instead of sending it (Twitch's AutoMod
// and "Block Hyperlinks" in spirit, kept simple and predictable): shouting (mostly capital
// letters), a long run of one character, and links to domains the channel did not allow. The
// broadcaster, moderators and VIPs are never held (chat/badges.ts isPrivileged). Pure functions:
// the room (chat-room/automod-queue.ts) holds what these flag.

/** Messages with fewer letters than this are never "shouting" ("GG", "LOL WP"). */
export const CAPS_MIN_LETTERS = 12;
/** Share of capital letters among the letters that makes a message shouting. */
export const CAPS_RATIO = 0.7;
/** A run of one character (spaces aside) this long is held ("!!!!!!!!!!", "aaaaaaaaaa"). */
export const REPEATED_RUN = 10;
/** Allowed domains per channel (chat settings). */
export const MAX_ALLOWED_DOMAINS = 100;

export type AutomodReason = 'caps' | 'repeated_characters' | 'link';

export interface AutomodVerdict {
  reason: AutomodReason;
  /** For the moderator's queue. */
  detail: string;
}

/** A hostname with a TLD of letters, with or without a scheme: "example.com", "https://a.b.io/x". */
const LINK = /(?:https?:\/\/)?((?:[\p{L}\p{N}-]+\.)+[\p{L}]{2,})(?::\d+)?(?:[/?#]\S*)?/giu;

/** Lowercase, no leading "www.", no trailing dot: how allowed domains are stored and compared. */
export function normalizeDomain(domain: string): string {
  return domain
    .trim()
    .toLowerCase()
    .replace(/^www\./, '')
    .replace(/\.$/, '');
}

function isAllowed(host: string, allowed: readonly string[]): boolean {
  const h = normalizeDomain(host);
  // A subdomain of an allowed domain is allowed (clips.example.com under example.com).
  return allowed.some((domain) => h === domain || h.endsWith(`.${domain}`));
}

function findRepeatedRun(content: string): string | null {
  let run = 1;
  let previous = '';
  for (const char of content) {
    if (char === previous && char.trim() !== '') {
      run++;
      if (run >= REPEATED_RUN) return char;
    } else {
      run = 1;
    }
    previous = char;
  }
  return null;
}

/** Null when the message may go out; else why AutoMod holds it. */
export function reviewMessage(content: string, allowedDomains: readonly string[]): AutomodVerdict | null {
  for (const match of content.matchAll(LINK)) {
    const host = match[1] ?? '';
    if (!isAllowed(host, allowedDomains))
      return { reason: 'link', detail: `a link to ${normalizeDomain(host)}` };
  }
  const letters = [...content].filter((c) => c.toLowerCase() !== c.toUpperCase());
  const capitals = letters.filter((c) => c === c.toUpperCase()).length;
  if (letters.length >= CAPS_MIN_LETTERS && capitals / letters.length >= CAPS_RATIO)
    return { reason: 'caps', detail: 'mostly capital letters' };
  const repeated = findRepeatedRun(content);
  if (repeated !== null) return { reason: 'repeated_characters', detail: `"${repeated}" repeated` };
  return null;
}
