// Password hashing: PBKDF2-SHA256 through WebCrypto. Stored as
// "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" (see users.password_hash in schema.sql).
import { decodeBase64, encodeBase64 } from './crypto.ts';

/** workerd refuses PBKDF2 above 100,000 iterations, so this is the strongest setting available. */
export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BITS = 256;

async function derivePbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, [
    'deriveBits',
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derivePbkdf2(password, salt, PBKDF2_ITERATIONS);
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${encodeBase64(salt)}$${encodeBase64(hash)}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, iterationsText, saltText, hashText] = stored.split('$');
  const iterations = Number(iterationsText);
  if (scheme !== 'pbkdf2-sha256' || !Number.isInteger(iterations) || !saltText || !hashText) return false;
  const expected = decodeBase64(hashText);
  const actual = await derivePbkdf2(password, decodeBase64(saltText), iterations);
  // Constant time, so the comparison leaks nothing about how many leading bytes matched.
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected);
}

/**
 * Spends the same time as a real verification when the user does not exist, so login timing does
 * not reveal which usernames are registered.
 */
export async function spendPasswordVerificationTime(password: string): Promise<void> {
  await derivePbkdf2(password, new Uint8Array(SALT_BYTES), PBKDF2_ITERATIONS);
}
