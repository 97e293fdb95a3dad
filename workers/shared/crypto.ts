// Small WebCrypto helpers shared by auth, stream keys and idempotency.
import { encodeHex, hashSha256Hex } from '../../common/hashing.ts';

const encoder = new TextEncoder();

export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export { encodeHex, hashSha256Hex };

/**
 * A random bearer token in lower-case hex. Not base64url: Twitch chat clients (tmi.js among them)
 * lower-case the token they send in `PASS oauth:<token>`, so a mixed-case token could never log in
 * over IRC.
 */
export function generateRandomToken(byteLength = 32): string {
  return encodeHex(crypto.getRandomValues(new Uint8Array(byteLength)));
}

export async function signHmacSha256(secret: string, message: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)));
}
