// Login throttling that bounds password guessing without letting a stranger lock the owner out
// (docs/api.md, "Limits"). Each layer is keyed so that an attacker's attempts land on the attacker:
// 1. per client network (IPv4 address, IPv6 /64, and with a higher limit the IPv6 /48): one
//    source cannot spray many accounts;
// 2. per (account, network): one source cannot hammer one account;
// 3. a lock per login subject. From a network the account has never logged in from, the subject is
//    the account: after LIMITS.login_account_lockout.failures attempts such networks wait out a
//    lock that doubles per further attempt up to max_lock_seconds. From a network the owner has
//    logged in from, the subject is (account, that network), with its own lock
//    (login_known_network_lockout): a distributed attack cannot keep the owner out, and whoever
//    shares the owner's address (a NAT, an office) gets the same bounded budget, not a free one.
// An attempt is counted BEFORE its password is checked, in one D1 batch (a transaction) that both
// reads the lock and counts, so parallel attempts cannot all pass the check before any counts
// (the ~100k-iteration PBKDF2 takes long enough for that). A correct password refunds its own
// count only; only time clears the rest, so the owner's logins cannot hand an attacker elsewhere a
// fresh allowance. The count starts again only window_seconds after the later of the last attempt
// and the end of the lock, so the lock does reach max_lock_seconds and guessing stays at one try
// per max_lock_seconds in the steady state. Attempts on names that do not exist count the same,
// so answers do not reveal which names exist.
// Subjects share the login_failures table (migration 0004): an account's key is its username, a
// known network's is "network:<SHA-256 of user id and network>" (usernames never hold a colon).
import { z } from 'zod';
import { hashSha256Hex } from '../../shared/crypto.ts';
import { ApiError } from '../../shared/errors.ts';
import { type LockoutPolicy, readLimits, readRateLimit } from '../../shared/limits.ts';
import { enforceRateLimit } from '../../shared/rate-limit.ts';

/** How long a network stays "known" after the account's last login from it. */
export const KNOWN_NETWORK_TTL_MS = 90 * 24 * 60 * 60 * 1000;

/** What one lock counts: an account from unfamiliar networks, or an account on one known network. */
export interface LoginSubject {
  kind: 'account' | 'known_network';
  key: string;
  policy: LockoutPolicy;
}

async function hashNetwork(userId: string, network: string): Promise<string> {
  return hashSha256Hex(`${userId}:${network}`);
}

/** Layers 1 and 2: counted for every attempt, before the password is checked. */
export async function enforceLoginRateLimits(
  env: Env,
  username: string,
  network: string,
  networkBlock: string | null,
): Promise<void> {
  await enforceRateLimit(env, readRateLimit(env, 'login_per_network'), network);
  if (networkBlock !== null) {
    await enforceRateLimit(env, readRateLimit(env, 'login_per_network_block'), networkBlock);
  }
  await enforceRateLimit(env, readRateLimit(env, 'login_per_account_network'), `${username}|${network}`);
}

export async function isKnownNetwork(db: D1Database, userId: string, network: string, now: number) {
  const row = await db
    .prepare('SELECT 1 FROM known_networks WHERE user_id = ? AND network_hash = ? AND last_login_at > ?')
    .bind(userId, await hashNetwork(userId, network), now - KNOWN_NETWORK_TTL_MS)
    .first();
  return row !== null;
}

export function accountSubject(env: Env, username: string): LoginSubject {
  return { kind: 'account', key: username, policy: readLimits(env).login_account_lockout };
}

export async function knownNetworkSubject(env: Env, userId: string, network: string): Promise<LoginSubject> {
  return {
    kind: 'known_network',
    key: `network:${await hashNetwork(userId, network)}`,
    policy: readLimits(env).login_known_network_lockout,
  };
}

const LockRow = z.object({ locked_until: z.number() });

/**
 * Layer 3: counts one attempt on `subject`, or refuses it with 429 login_locked + Retry-After
 * (uncounted) while the subject is locked. The attempt that reaches `failures` sets the lock, for
 * base * 2^(count - failures) seconds, capped at max_lock_seconds.
 */
export async function admitLoginAttempt(db: D1Database, subject: LoginSubject, now: number): Promise<void> {
  const { key, policy } = subject;
  // A batch is one transaction: no other attempt runs between the read and the count.
  const [before] = await db.batch([
    db.prepare('SELECT locked_until FROM login_failures WHERE username = ?1').bind(key),
    // SET expressions see the row as it was, so each CASE tests the lock before this attempt.
    db
      .prepare(
        `INSERT INTO login_failures (username, failures, last_failure_at, locked_until) VALUES (?1, 1, ?2, 0)
         ON CONFLICT (username) DO UPDATE SET
           failures = CASE WHEN locked_until > ?2 THEN failures
                           WHEN max(last_failure_at, locked_until) < ?2 - ?3 THEN 1
                           ELSE failures + 1 END,
           last_failure_at = CASE WHEN locked_until > ?2 THEN last_failure_at ELSE ?2 END`,
      )
      .bind(key, now, policy.window_seconds * 1000),
    db
      .prepare(
        `UPDATE login_failures
         SET locked_until = ?2 + min(?5, ?4 * (1 << min(failures - ?3, 20))) * 1000
         WHERE username = ?1 AND failures >= ?3 AND locked_until <= ?2`,
      )
      .bind(key, now, policy.failures, policy.base_lock_seconds, policy.max_lock_seconds),
  ]);
  const row = before?.results[0];
  const lockedUntil = row === undefined ? 0 : LockRow.parse(row).locked_until;
  if (lockedUntil <= now) return;
  const message =
    subject.kind === 'account'
      ? 'Too many failed logins for this account from unfamiliar networks. Try again later, or from a network you have logged in from before.'
      : 'Too many failed logins for this account from this network. Try again later.';
  throw new ApiError(429, 'login_locked', message, {
    retryAfterSeconds: Math.max(1, Math.ceil((lockedUntil - now) / 1000)),
  });
}

/**
 * A correct password takes back its own count. If the other counted attempts are below the
 * threshold, no lock is theirs, so a lock this attempt set is lifted; otherwise the lock stays.
 */
export async function refundLoginAttempt(db: D1Database, subject: LoginSubject): Promise<void> {
  await db
    .prepare(
      `UPDATE login_failures
       SET failures = max(0, failures - 1),
           locked_until = CASE WHEN failures - 1 < ?2 THEN 0 ELSE locked_until END
       WHERE username = ?1`,
    )
    .bind(subject.key, subject.policy.failures)
    .run();
}

/** The sweep of counts that can no longer change an answer (workers/cron.ts). */
export function prepareExpireLoginFailures(env: Env, db: D1Database, now: number): D1PreparedStatement {
  const limits = readLimits(env);
  const windowMs =
    Math.max(limits.login_account_lockout.window_seconds, limits.login_known_network_lockout.window_seconds) *
    1000;
  return db
    .prepare('DELETE FROM login_failures WHERE max(last_failure_at, locked_until) < ?')
    .bind(now - windowMs);
}

/** After a correct password this network becomes known. */
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

/**
 * Forgets every network of the account but `keep` (the one asking): after a password change or
 * "log out everywhere", networks that knew the old state lose their exemption from the account lock.
 */
export async function prepareForgetNetworks(
  db: D1Database,
  userId: string,
  keep: string,
  now: number,
): Promise<D1PreparedStatement[]> {
  return [
    db.prepare('DELETE FROM known_networks WHERE user_id = ?').bind(userId),
    await prepareRememberNetwork(db, userId, keep, now),
  ];
}

function prepareKnownNetwork(db: D1Database, userId: string, networkHash: string, now: number) {
  return db
    .prepare(
      `INSERT INTO known_networks (user_id, network_hash, last_login_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id, network_hash) DO UPDATE SET last_login_at = excluded.last_login_at`,
    )
    .bind(userId, networkHash, now);
}
