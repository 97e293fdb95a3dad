// The device authorization grant (RFC 8628), as id.twitch.tv/oauth2/device offers it: a device
// (a stream deck, a CLI bot) gets a device code and a short user code, the user enters the user
// code on /activate while signed in, and the device polls /oauth2/token until it is approved.
import { z } from 'zod';
import { hashSha256Hex } from '../../common/hashing.ts';
import { parseScopes } from './tokens.ts';

/** Twitch's device codes live 30 minutes and are polled every 5 seconds. */
export const DEVICE_CODE_TTL_MS = 30 * 60 * 1000;
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

/**
 * User codes: 8 letters from an alphabet without vowels or look-alikes (RFC 8628 section 6.1),
 * 20^8 ≈ 2.6e10 codes; /activate attempts are rate-limited per user, so guessing a live code in
 * its 30 minutes is hopeless.
 */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;

function generateUserCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(USER_CODE_LENGTH));
  // 256 is not a multiple of 20: the bias (12 of 256 values) is harmless for a rate-limited code.
  return Array.from(bytes, (byte) => USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length]).join('');
}

/** A user code as typed: case and a dash or spaces do not matter. */
export function normalizeUserCode(typed: string): string {
  return typed.toUpperCase().replaceAll(/[\s-]/g, '').slice(0, 32);
}

export async function createDeviceCode(
  db: D1Database,
  clientId: string,
  scopes: readonly string[],
  now = Date.now(),
): Promise<{ deviceCode: string; userCode: string }> {
  const deviceCode = crypto.randomUUID().replaceAll('-', '') + crypto.randomUUID().replaceAll('-', '');
  const userCode = generateUserCode();
  // Expired codes of any client are swept here, so the table holds at most 30 minutes of requests.
  await db.batch([
    db.prepare('DELETE FROM oauth_device_codes WHERE expires_at <= ?').bind(now),
    db
      .prepare(
        `INSERT INTO oauth_device_codes (device_code_hash, user_code, client_id, scopes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        await hashSha256Hex(deviceCode),
        userCode,
        clientId,
        JSON.stringify(scopes),
        now,
        now + DEVICE_CODE_TTL_MS,
      ),
  ]);
  return { deviceCode, userCode };
}

const PendingRow = z.object({ client_id: z.string(), scopes: z.string(), status: z.string() });

/** The request a user code names, for the /activate page; null when unknown, expired or decided. */
export async function findPendingDeviceCode(
  db: D1Database,
  userCode: string,
  now = Date.now(),
): Promise<{ clientId: string; scopes: string[] } | null> {
  const row = await db
    .prepare(
      "SELECT client_id, scopes, status FROM oauth_device_codes WHERE user_code = ? AND expires_at > ? AND status = 'pending'",
    )
    .bind(normalizeUserCode(userCode), now)
    .first();
  if (row === null) return null;
  const parsed = PendingRow.parse(row);
  return { clientId: parsed.client_id, scopes: parseScopes(parsed.scopes) };
}

/** Records the user's decision; false when the code is unknown, expired or already decided. */
export async function decideDeviceCode(
  db: D1Database,
  userCode: string,
  userId: string,
  approve: boolean,
  now = Date.now(),
): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE oauth_device_codes SET status = ?, user_id = ?
       WHERE user_code = ? AND expires_at > ? AND status = 'pending'`,
    )
    .bind(approve ? 'approved' : 'denied', userId, normalizeUserCode(userCode), now)
    .run();
  return result.meta.changes > 0;
}

const PollRow = z.object({
  client_id: z.string(),
  scopes: z.string(),
  status: z.enum(['pending', 'approved', 'denied']),
  user_id: z.string().nullable(),
  last_polled_at: z.number(),
});

/** What a device's poll of /oauth2/token gets (RFC 8628 section 3.5; Twitch's messages). */
export type DevicePoll =
  | { kind: 'approved'; userId: string; scopes: string[] }
  | { kind: 'pending' }
  | { kind: 'slow-down' }
  | { kind: 'denied' }
  | { kind: 'invalid' };

export async function pollDeviceCode(
  db: D1Database,
  clientId: string,
  deviceCode: string,
  now = Date.now(),
): Promise<DevicePoll> {
  if (deviceCode.length === 0 || deviceCode.length > 200) return { kind: 'invalid' };
  const hash = await hashSha256Hex(deviceCode);
  const row = await db
    .prepare(
      `SELECT client_id, scopes, status, user_id, last_polled_at FROM oauth_device_codes
       WHERE device_code_hash = ? AND client_id = ? AND expires_at > ?`,
    )
    .bind(hash, clientId, now)
    .first();
  if (row === null) return { kind: 'invalid' };
  await db
    .prepare('UPDATE oauth_device_codes SET last_polled_at = ? WHERE device_code_hash = ?')
    .bind(now, hash)
    .run();
  const poll = PollRow.parse(row);
  if (poll.status === 'denied') {
    await db.prepare('DELETE FROM oauth_device_codes WHERE device_code_hash = ?').bind(hash).run();
    return { kind: 'denied' };
  }
  if (poll.status === 'approved' && poll.user_id !== null) {
    // Deleted on redemption: one device code yields one grant.
    const deleted = await db
      .prepare('DELETE FROM oauth_device_codes WHERE device_code_hash = ? RETURNING 1 AS ok')
      .bind(hash)
      .first();
    if (deleted === null) return { kind: 'invalid' };
    return { kind: 'approved', userId: poll.user_id, scopes: parseScopes(poll.scopes) };
  }
  // RFC 8628 section 3.5: "slow_down ... the interval MUST be increased by 5 seconds".
  if (now - poll.last_polled_at < DEVICE_POLL_INTERVAL_SECONDS * 1000 - 500) return { kind: 'slow-down' };
  return { kind: 'pending' };
}
