// Hex and SHA-256 helpers for the Worker, the Durable Objects and the transcoder alike: runtime-neutral
// (Web Crypto only), so they live in common/ below all three.

export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 in hex of a string (as UTF-8) or of raw bytes. */
export async function hashSha256Hex(input: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  return encodeHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}
