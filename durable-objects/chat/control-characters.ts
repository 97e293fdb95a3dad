// Which characters never belong in chat text. Shared by the room (which refuses such messages),
// display names (which drop them) and the IRC serializer (which can never emit them).
/**
 * C0 and C1 controls (CR, LF, NUL, the CTCP delimiter, ...) and the Unicode line and paragraph
 * separators: none belongs in a chat line, and CR/LF/NUL would end an IRC line early (RFC 1459
 * §2.3.1: a message is terminated by CR LF; NUL is not allowed anywhere).
 */
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/u;
const CONTROL_CHARACTERS_GLOBAL = /[\p{Cc}\u2028\u2029]/gu;

export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}

export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS_GLOBAL, '');
}
