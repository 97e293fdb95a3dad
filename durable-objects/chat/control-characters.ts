// Which characters never belong in chat text. Shared by the room (which refuses such messages)
// and display names (which drop them); the IRC serializer (irc.ts) strips CR, LF and NUL itself.
/**
 * C0 and C1 controls (CR, LF, NUL, the CTCP delimiter, ...) and the Unicode line and paragraph
 * separators: none belongs in a chat line, and CR/LF/NUL would end an IRC line early (RFC 1459
 * §2.3.1: a message is terminated by CR LF; NUL is not allowed anywhere).
 */
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/u;
/**
 * Bidirectional embeddings, overrides and isolates (UAX #9 §2.1-2.2: LRE, RLE, PDF, LRO, RLO, LRI,
 * RLI, FSI, PDI). An unterminated RLO in a message or a name reorders whatever the client renders
 * after it (the "(login)" suffix of badges.ts, the next message), so chat refuses them in messages.
 * The marks LRM/RLM (U+200E/F) stay allowed in messages: right-to-left text needs them.
 */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/u;
/**
 * What a display name drops besides controls: the bidi controls above, the zero-width characters
 * and marks (U+200B-U+200F) and the byte-order mark U+FEFF. Each makes one name look like another
 * (or like nothing), and a name is never an emoji sequence that needs ZWJ.
 */
const NAME_INVISIBLES_GLOBAL = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069\u200B-\u200F\uFEFF]/gu;

/** Why a message (or command) cannot be accepted for its characters, or null when it can. */
export function describeForbiddenCharacters(text: string): string | null {
  if (CONTROL_CHARACTERS.test(text)) return 'Messages cannot contain control characters.';
  if (BIDI_CONTROLS.test(text))
    return 'Messages cannot contain bidirectional override or isolate characters.';
  return null;
}

/** A display name without controls, bidi controls, zero-width characters or BOMs. */
export function stripNameInvisibles(text: string): string {
  return text.replace(NAME_INVISIBLES_GLOBAL, '');
}
