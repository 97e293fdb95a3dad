// Login throttling that bounds password guessing without letting a stranger lock the owner out
// (docs/api.md, "Limits"). Three layers, each keyed so that an attacker's failures land on the
// attacker:
// 1. per client network (IPv4 address or IPv6 /64): one source cannot spray many accounts;
// 2. per (account, network): one source cannot hammer one account;
// 3. per account, across networks: after LIMITS.login_account_lockout.failures failures, networks
//    the account has never logged in from wait out a lock that doubles per further failure (up to
//    max_lock_seconds). A network the owner has logged in from before is exempt, so a distributed
//    attack cannot keep the owner out; the owner on a new network waits at most max_lock_seconds.
// Failures are counted for names that do not exist too, so answers do not reveal which do.
import { hashSha256Hex } from '../../shared/crypto.ts';
import { ApiError } from '../../shared/errors.ts';
import { readLimits, readRateLimit } from '../../shared/limits.ts';
import { enforceRateLimit } from '../../shared/rate-limit.ts';

/** How long a network stays "known" after the account's last login from it. */
export const KNOWN_NETWORK_TTL_MS = 90 * 24 * 60 * 60 * 1000;

async function hashNetwork(userId: string, network: string): Promise<string> {
  return hashSha256Hex(`${userId}:${network}`);
}

/** Layers 1 and 2: counted for every attempt, before the password is checked. */
export async function enforceLoginRateLimits(env: Env, username: string, network: string): Promise<void> {
  await enforceRateLimit(env, readRateLimit(env, 'login_per_network'), network);
  await enforceRateLimit(env, readRateLimit(env, 'login_per_account_network'), `${username}|${network}`);
}

export async function isKnownNetwork(db: D1Database, userId: string, network: string, now: number) {
  const row = await db
    .prepare('SELECT 1 FROM known_networks WHERE user_id = ? AND network_hash = ? AND last_login_at > ?')
    .bind(userId, await hashNetwork(userId, network), now - KNOWN_NETWORK_TTL_MS)
    .first();
  return row !== null;
}

/** Layer 3: refuses an unfamiliar network while the account is locked (429 + Retry-After). */
export async function enforceAccountLock(db: D1Database, username: string, now: number): Promise<void> {
  const row = await db
    .prepare('SELECT locked_until FROM login_failures WHERE username = ?')
    .bind(username)
    .first<{ locked_until: number }>();
  if (row && row.locked_until > now) {
    throw new ApiError(
      429,
      'login_locked',
      'Too many failed logins for this account from unfamiliar networks. Try again later, or from a network you have logged in from before.',
      { retryAfterSeconds: Math.max(1, Math.ceil((row.locked_until - now) / 1000)) },
    );
  }
}

/**
 * Counts one failure. A failure more than window_seconds after the previous one starts the count
 * again; from the `failures`-th on, the account locks for base * 2^(count - failures), capped.
 */
export async function recordLoginFailure(env: Env, username: string, now: number): Promise<void> {
  const policy = readLimits(env).login_account_lockout;
  const windowMs = policy.window_seconds * 1000;
  // One statement, so concurrent failures cannot lose a count.
  await env.DB.prepare(
    `INSERT INTO login_failures (username, failures, last_failure_at, locked_until) VALUES (?1, 1, ?2, 0)
     ON CONFLICT (username) DO UPDATE SET
       failures = CASE WHEN last_failure_at < ?2 - ?3 THEN 1 ELSE failures + 1 END,
       last_failure_at = ?2`,
  )
    .bind(username, now, windowMs)
    .run();
  await env.DB.prepare(
    `UPDATE login_failures
     SET locked_until = ?2 + min(?5, ?4 * (1 << min(failures - ?3, 20))) * 1000
     WHERE username = ?1 AND failures >= ?3`,
  )
    .bind(username, now, policy.failures, policy.base_lock_seconds, policy.max_lock_seconds)
    .run();
}

/**
 * After a correct password this network becomes known. The failure count is left alone: only time
 * clears it, so the owner's logins cannot hand an attacker elsewhere a fresh allowance of guesses.
 */
export async function recordLoginSuccess(db: D1Database, userId: string, network: string, now: number) {
  await prepareKnownNetwork(db, userId, await hashNetwork(userId, network), now).run();
}

/** The statement that marks `network` as one the account logs in from (signup counts too). */
export async function prepareRememberNetwork(
  db: D1Database,
  userId: string,
  network: string,
  now: number,
): Promise<D1PreparedStatement> {
  return prepareKnownNetwork(db, userId, await hashNetwork(userId, network), now);
}

function prepareKnownNetwork(db: D1Database, userId: string, networkHash: string, now: number) {
  return db
    .prepare(
      `INSERT INTO known_networks (user_id, network_hash, last_login_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id, network_hash) DO UPDATE SET last_login_at = excluded.last_login_at`,
    )
    .bind(userId, networkHash, now);
}
