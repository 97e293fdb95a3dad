// Attacks on the login lock itself (workers/api/lib/login-guard.ts): wrong passwords fired in
// parallel so that none has been counted when the others check the lock; an attacker who waits
// out each lock to keep the count from growing; a guesser who shares the owner's address (a known
// network); networks known before a password change or "log out everywhere"; and IPv6 clients
// spreading over the /64s of one /48. The clock of the backoff tests is the `now` the guard takes.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toClientNetwork, toClientNetworkBlock } from '../../common/client-network.ts';
import {
  accountSubject,
  admitLoginAttempt,
  knownNetworkSubject,
  type LoginSubject,
  prepareExpireLoginFailures,
} from '../../workers/api/lib/login-guard.ts';
import { ApiError } from '../../workers/shared/errors.ts';
import { type LockoutPolicy, readLimits, readRateLimit } from '../../workers/shared/limits.ts';
import { callApi, createTestIp, createUsername, readError, signUp, type TestSession } from './api-helpers.ts';

function logIn(session: TestSession, options: { ip?: string; password?: string } = {}) {
  return callApi('/auth/login', {
    method: 'POST',
    ...(options.ip === undefined ? {} : { ip: options.ip }),
    body: { username: session.user.username, password: options.password ?? session.password },
  });
}

/** Wrong passwords, one after another, each from a network of its own. */
async function sprayWrongPasswords(session: TestSession, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await logIn(session, { password: `guess number ${i}` });
}

/** One attempt at `now`: null when admitted, else the Retry-After of the lock in seconds. */
async function attempt(subject: LoginSubject, now: number): Promise<number | null> {
  try {
    await admitLoginAttempt(env.DB, subject, now);
    return null;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'login_locked') return error.retryAfterSeconds ?? 0;
    throw error;
  }
}

/**
 * A patient guesser: one attempt every `stepSeconds` of simulated time (a steady drip), over
 * `days`. Returns how many attempts the guard admitted, and the longest lock it answered.
 */
async function dripAttempts(subject: LoginSubject, days: number, stepSeconds: number) {
  const start = Date.UTC(2030, 0, 1);
  let admitted = 0;
  let longestLock = 0;
  for (let t = 0; t < days * 86_400; t += stepSeconds) {
    const lock = await attempt(subject, start + t * 1000);
    if (lock === null) admitted += 1;
    else longestLock = Math.max(longestLock, lock);
  }
  return { admitted, longestLock };
}

/**
 * A guesser who bursts until locked, then rests `restSeconds` past the end of each lock hoping the
 * count starts again, over `days`. Returns how many attempts the guard admitted.
 */
async function burstAndRest(subject: LoginSubject, days: number, restSeconds: number): Promise<number> {
  const start = Date.UTC(2030, 0, 4);
  const end = start + days * 86_400_000;
  let admitted = 0;
  for (let now = start; now < end; ) {
    const lock = await attempt(subject, now);
    if (lock === null) {
      admitted += 1;
      now += 1000;
    } else {
      now += (lock + restSeconds) * 1000;
    }
  }
  return admitted;
}

/** The most attempts a day can admit: the first `failures`, then one per lock as it doubles. */
function dailyBound(policy: LockoutPolicy): number {
  let admitted = policy.failures;
  let lock = policy.base_lock_seconds;
  for (
    let elapsed = 0;
    elapsed < 86_400;
    elapsed += lock, lock = Math.min(policy.max_lock_seconds, lock * 2)
  ) {
    admitted += 1;
  }
  return admitted;
}

describe('the login lock under parallel attempts', () => {
  it('evaluates at most the lock threshold of 30 wrong passwords sent at once from 30 networks', async () => {
    const owner = await signUp('raced');
    const policy = readLimits(env).login_account_lockout;
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => logIn(owner, { password: `parallel guess ${i}` })),
    );
    const evaluated = responses.filter((res) => res.status === 401).length;
    const locked = responses.filter((res) => res.status === 429);
    expect(evaluated).toBeLessThanOrEqual(policy.failures);
    expect(evaluated + locked.length).toBe(30);
    for (const res of locked) expect((await readError(res)).code).toBe('login_locked');
    const row = await env.DB.prepare('SELECT failures FROM login_failures WHERE username = ?')
      .bind(owner.user.username)
      .first<{ failures: number }>();
    expect(row?.failures).toBe(evaluated);
  });

  it("does not count the owner's correct logins from new networks toward the lock", async () => {
    const owner = await signUp('traveler');
    const policy = readLimits(env).login_account_lockout;
    for (let i = 0; i < 2 * policy.failures; i++) expect((await logIn(owner)).status).toBe(200);
    // The account was not locked by them: a guesser still meets the full threshold first.
    await sprayWrongPasswords(owner, policy.failures - 1);
    expect((await logIn(owner)).status).toBe(200);
  });
});

describe('the backoff of the login lock', () => {
  it('lets a guesser who waits out every lock reach max_lock_seconds and no more than one try per lock', async () => {
    const subject = accountSubject(env, createUsername('patient'));
    const policy = subject.policy;
    // A try every two minutes for two simulated days: the count must never start again.
    const { admitted, longestLock } = await dripAttempts(subject, 2, 120);
    // Met up to a step into the lock, the longest lock says up to a step less than its length.
    expect(longestLock).toBeGreaterThanOrEqual(policy.max_lock_seconds - 120);
    expect(longestLock).toBeLessThanOrEqual(policy.max_lock_seconds);
    const rampSeconds = Array.from({ length: 8 }, (_, i) =>
      Math.min(policy.max_lock_seconds, policy.base_lock_seconds * 2 ** i),
    ).reduce((sum, s) => sum + s, 0);
    const steadyTries = Math.ceil((2 * 86_400 - rampSeconds) / policy.max_lock_seconds) + 1;
    expect(admitted).toBeLessThanOrEqual(policy.failures + 8 + steadyTries);
  });

  it('gives a guesser who rests between bursts no more tries a day than one who keeps trying', async () => {
    const policy = readLimits(env).login_account_lockout;
    // Resting a quarter of an hour past each lock end, then a whole hour: neither restarts the count.
    for (const restSeconds of [16 * 60, 3600]) {
      const subject = accountSubject(env, createUsername('burst'));
      expect(await burstAndRest(subject, 2, restSeconds)).toBeLessThanOrEqual(2 * dailyBound(policy));
    }
    expect(dailyBound(policy)).toBeLessThan(45);
  });

  it('starts the count again only window_seconds after the lock has ended', async () => {
    const subject = accountSubject(env, createUsername('rested'));
    const { failures, window_seconds, max_lock_seconds } = subject.policy;
    const start = Date.UTC(2030, 0, 2);
    for (let i = 0; i < failures; i++) expect(await attempt(subject, start + i)).toBeNull();
    // Lock the subject for max_lock_seconds, as a long run of failures would.
    await env.DB.prepare('UPDATE login_failures SET failures = 1000, locked_until = ? WHERE username = ?')
      .bind(start + max_lock_seconds * 1000, subject.key)
      .run();
    const lockEnd = start + max_lock_seconds * 1000;
    // Inside the window after the lock: the count goes on, and the next lock is the longest.
    expect(await attempt(subject, lockEnd + (window_seconds - 1) * 1000)).toBeNull();
    expect(await attempt(subject, lockEnd + window_seconds * 1000)).toBe(max_lock_seconds - 1);
    // A full window after that second lock has ended: a fresh count, no lock.
    const secondLockEnd = lockEnd + (window_seconds - 1 + max_lock_seconds) * 1000;
    const rested = secondLockEnd + (window_seconds + 1) * 1000;
    expect(await attempt(subject, rested)).toBeNull();
    expect(await attempt(subject, rested + 1)).toBeNull();
  });

  it('keeps a count the lock still depends on when the sweep runs after the lock ends', async () => {
    const subject = accountSubject(env, createUsername('swept'));
    const { failures, max_lock_seconds } = subject.policy;
    const start = Date.UTC(2030, 0, 3);
    for (let i = 0; i < failures; i++) await attempt(subject, start);
    await env.DB.prepare('UPDATE login_failures SET failures = 1000, locked_until = ? WHERE username = ?')
      .bind(start + max_lock_seconds * 1000, subject.key)
      .run();
    await prepareExpireLoginFailures(env, env.DB, start + max_lock_seconds * 1000 + 1000).run();
    const kept = await env.DB.prepare('SELECT failures FROM login_failures WHERE username = ?')
      .bind(subject.key)
      .first<{ failures: number }>();
    expect(kept?.failures).toBe(1000);
    await prepareExpireLoginFailures(env, env.DB, start + 10 * 86_400_000).run();
    const gone = await env.DB.prepare('SELECT 1 FROM login_failures WHERE username = ?')
      .bind(subject.key)
      .first();
    expect(gone).toBeNull();
  });
});

describe('known networks', () => {
  it('bounds guessing from a network the owner has logged in from with a lock of its own', async () => {
    const ownerIp = createTestIp();
    const owner = await signUp('shared', { ip: ownerIp });
    const subject = await knownNetworkSubject(env, owner.user.id, toClientNetwork(ownerIp));
    // A neighbour behind the owner's NAT, a try every two minutes for a simulated day.
    const { admitted, longestLock } = await dripAttempts(subject, 1, 120);
    expect(longestLock).toBeGreaterThanOrEqual(subject.policy.max_lock_seconds - 120);
    expect(admitted).toBeLessThanOrEqual(dailyBound(subject.policy));
  });

  it('refuses the shared network once its own lock is reached, while the account lock is untouched', async () => {
    const ownerIp = createTestIp();
    const owner = await signUp('nat', { ip: ownerIp });
    const subject = await knownNetworkSubject(env, owner.user.id, toClientNetwork(ownerIp));
    const now = Date.now();
    for (let i = 0; i < subject.policy.failures - 1; i++) await admitLoginAttempt(env.DB, subject, now);
    expect((await logIn(owner, { ip: ownerIp, password: 'the last free guess' })).status).toBe(401);
    const locked = await logIn(owner, { ip: ownerIp });
    expect(locked.status).toBe(429);
    expect((await readError(locked)).code).toBe('login_locked');
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await logIn(owner)).status).toBe(200);
  });

  it('forgets the networks known before a password change, so they meet the account lock again', async () => {
    const oldIp = createTestIp();
    const owner = await signUp('rotated', { ip: oldIp });
    await sprayWrongPasswords(owner, readLimits(env).login_account_lockout.failures);
    expect((await logIn(owner, { ip: oldIp })).status).toBe(200);
    const changeIp = createTestIp();
    const change = await callApi('/auth/password', {
      method: 'POST',
      ip: changeIp,
      token: owner.token,
      body: { current_password: owner.password, new_password: 'a brand new secret' },
    });
    expect(change.status).toBe(204);
    const next = { ...owner, password: 'a brand new secret' };
    const refused = await logIn(next, { ip: oldIp });
    expect(refused.status).toBe(429);
    expect((await readError(refused)).code).toBe('login_locked');
    // The network the change was made from stays known.
    expect((await logIn(next, { ip: changeIp })).status).toBe(200);
  });

  it('forgets the networks known before "log out everywhere" but the one asking', async () => {
    const oldIp = createTestIp();
    const owner = await signUp('everywhere', { ip: oldIp });
    await sprayWrongPasswords(owner, readLimits(env).login_account_lockout.failures);
    const askIp = createTestIp();
    expect(
      (await callApi('/auth/logout-all', { method: 'POST', ip: askIp, token: owner.token })).status,
    ).toBe(204);
    expect((await logIn(owner, { ip: oldIp })).status).toBe(429);
    expect((await logIn(owner, { ip: askIp })).status).toBe(200);
  });
});

describe('IPv6 clients', () => {
  it('groups an IPv6 address by its /48 beside its /64, and IPv4 by nothing coarser', () => {
    expect(toClientNetworkBlock('2001:db8:1:2::1')).toBe('2001:db8:1::/48');
    expect(toClientNetworkBlock('2001:0DB8:0001:ffff:1:2:3:4')).toBe('2001:db8:1::/48');
    expect(toClientNetworkBlock('203.0.113.7')).toBeNull();
    expect(toClientNetworkBlock('::ffff:203.0.113.7')).toBeNull();
    expect(toClientNetworkBlock('not an address')).toBeNull();
  });

  it('refuses signups from many /64s of one /48 past the /48 limit', async () => {
    const site = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const limit = readRateLimit(env, 'signup_per_network_block').limit;
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++) {
      const res = await callApi('/auth/signup', {
        method: 'POST',
        ip: `${site}:${(i + 1).toString(16)}::1`,
        body: { username: createUsername('v6'), password: 'long enough pw' },
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
        expect((await readError(res)).message).toMatch(/too many signups from this network/i);
      }
    }
    expect(statuses).toEqual([...Array<number>(limit).fill(201), 429]);
  });

  it('refuses logins from many /64s of one /48 past the /48 limit', async () => {
    const site = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const limit = readRateLimit(env, 'login_per_network_block').limit;
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++) {
      const res = await callApi('/auth/login', {
        method: 'POST',
        ip: `${site}:${(i + 1).toString(16)}::1`,
        body: { username: createUsername('nobody'), password: 'wrong guess' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array<number>(limit).fill(401), 429]);
  });
});
