// Accounts under attack and in the owner's hands: login throttling that a stranger cannot turn
// against the owner, password change, the session list with revoke, log out everywhere, and the
// LIMITS table that configures it all (strict values here, as in a deployment).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readLimits, readRateLimit } from '../../workers/shared/limits.ts';
import { callApi, createTestIp, createUsername, readError, signUp, type TestSession } from './api-helpers.ts';

const SessionList = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      created_at: z.string(),
      expires_at: z.string(),
      user_agent: z.string(),
      current: z.boolean(),
    }),
  ),
});

function logIn(session: TestSession, options: { ip?: string; password?: string; userAgent?: string } = {}) {
  return callApi('/auth/login', {
    method: 'POST',
    ...(options.ip === undefined ? {} : { ip: options.ip }),
    ...(options.userAgent === undefined ? {} : { headers: { 'User-Agent': options.userAgent } }),
    body: { username: session.user.username, password: options.password ?? session.password },
  });
}

async function readToken(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  return z.object({ token: z.string() }).parse(await res.json()).token;
}

/** Wrong passwords from `count` different networks, as a distributed guesser would send them. */
async function sprayWrongPasswords(session: TestSession, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    statuses.push((await logIn(session, { password: `guess number ${i}` })).status);
  }
  return statuses;
}

describe('login throttling', () => {
  it('does not let failed logins from many networks lock the owner out of a network they use', async () => {
    const ownerIp = createTestIp();
    const owner = await signUp('owner', { ip: ownerIp });
    const policy = readLimits(env).login_account_lockout;
    const statuses = await sprayWrongPasswords(owner, policy.failures + 5);
    expect(statuses.slice(0, policy.failures)).toEqual(Array(policy.failures).fill(401));
    expect(statuses.slice(policy.failures)).toEqual(Array(5).fill(429));
    // The owner, from the network they signed up from, is let in at once.
    expect((await logIn(owner, { ip: ownerIp })).status).toBe(200);
  });

  it('locks unfamiliar networks with a lock that doubles per failure and ends', async () => {
    const owner = await signUp('locked');
    const policy = readLimits(env).login_account_lockout;
    await sprayWrongPasswords(owner, policy.failures);
    // The right password from a network the account has never used waits out the lock.
    const locked = await logIn(owner);
    expect(locked.status).toBe(429);
    expect((await readError(locked)).code).toBe('login_locked');
    const firstLock = Number(locked.headers.get('Retry-After'));
    expect(firstLock).toBeGreaterThan(policy.base_lock_seconds - 5);
    expect(firstLock).toBeLessThanOrEqual(policy.base_lock_seconds);
    // Once the lock has passed, one more wrong guess locks it again for twice as long.
    await env.DB.prepare('UPDATE login_failures SET locked_until = ? WHERE username = ?')
      .bind(Date.now() - 1, owner.user.username)
      .run();
    expect((await logIn(owner, { password: 'one more guess' })).status).toBe(401);
    const relocked = await logIn(owner);
    expect(relocked.status).toBe(429);
    const secondLock = Number(relocked.headers.get('Retry-After'));
    expect(secondLock).toBeGreaterThan(2 * policy.base_lock_seconds - 5);
    expect(secondLock).toBeLessThanOrEqual(2 * policy.base_lock_seconds);
    // Never longer than max_lock_seconds, and the owner gets in once it has passed.
    await env.DB.prepare('UPDATE login_failures SET failures = 1000 WHERE username = ?')
      .bind(owner.user.username)
      .run();
    await env.DB.prepare('UPDATE login_failures SET locked_until = ? WHERE username = ?')
      .bind(Date.now() - 1, owner.user.username)
      .run();
    expect((await logIn(owner, { password: 'and another' })).status).toBe(401);
    const capped = await logIn(owner);
    expect(Number(capped.headers.get('Retry-After'))).toBeLessThanOrEqual(policy.max_lock_seconds);
    await env.DB.prepare('UPDATE login_failures SET locked_until = ? WHERE username = ?')
      .bind(Date.now() - 1, owner.user.username)
      .run();
    expect((await logIn(owner)).status).toBe(200);
  });

  it('counts failures for usernames that do not exist, so a lock does not reveal which exist', async () => {
    const ghost = { user: { username: createUsername('ghost') }, password: 'x' } as TestSession;
    const policy = readLimits(env).login_account_lockout;
    const statuses = await sprayWrongPasswords(ghost, policy.failures + 1);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe('signup limits', () => {
  it('answers signups over the per-network limit with 429, Retry-After and the reason', async () => {
    const ip = createTestIp();
    const limit = readRateLimit(env, 'signup_per_network').limit;
    let last: Response | undefined;
    for (let i = 0; i <= limit; i++) {
      last = await callApi('/auth/signup', {
        method: 'POST',
        ip,
        body: { username: createUsername('many'), password: 'long enough pw' },
      });
    }
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('Retry-After'))).toBeGreaterThan(0);
    const error = await readError(last ?? new Response('{}'));
    expect(error.code).toBe('rate_limited');
    expect(error.message).toMatch(/too many signups from this network/i);
  });
});

describe('the LIMITS table', () => {
  it('runs the tests with the strict values, and the local profile relaxes signups only', () => {
    expect(String(env.LIMITS_PROFILE)).toBe('strict');
    const local = { ...env, LIMITS_PROFILE: 'local' } as unknown as Env;
    expect(readRateLimit(env, 'signup_per_network').limit).toBe(5);
    expect(readRateLimit(local, 'signup_per_network').limit).toBeGreaterThan(100);
    expect(readRateLimit(local, 'login_per_account_network')).toEqual(
      readRateLimit(env, 'login_per_account_network'),
    );
    expect(readRateLimit(local, 'clips_per_user')).toEqual(readRateLimit(env, 'clips_per_user'));
  });

  it('takes the table as JSON too, as `wrangler dev --var LIMITS:<json>` passes it', () => {
    const asJson = { ...env, LIMITS: JSON.stringify(env.LIMITS) } as unknown as Env;
    expect(readLimits(asJson)).toEqual(readLimits(env));
  });
});

describe('sessions', () => {
  it('lists the sessions with the current one marked, and revokes another at once', async () => {
    const user = await signUp('sessions');
    const laptop = await readToken(await logIn(user, { userAgent: 'Laptop browser' }));
    const res = await callApi('/auth/sessions', { token: user.token });
    expect(res.status).toBe(200);
    const list = SessionList.parse(await res.json()).data;
    expect(list).toHaveLength(2);
    expect(list.filter((s) => s.current)).toHaveLength(1);
    const other = list.find((s) => !s.current);
    expect(other?.user_agent).toBe('Laptop browser');
    expect(JSON.stringify(list)).not.toContain(laptop);

    const revoked = await callApi(`/auth/sessions/${other?.id}`, { method: 'DELETE', token: user.token });
    expect(revoked.status).toBe(204);
    expect((await callApi('/users/me', { token: laptop })).status).toBe(401);
    expect((await callApi('/users/me', { token: user.token })).status).toBe(200);
  });

  it("cannot revoke another account's session", async () => {
    const victim = await signUp('victim');
    const attacker = await signUp('attacker');
    const list = SessionList.parse(await (await callApi('/auth/sessions', { token: victim.token })).json());
    const id = list.data[0]?.id ?? '';
    const res = await callApi(`/auth/sessions/${id}`, { method: 'DELETE', token: attacker.token });
    expect(res.status).toBe(404);
    expect((await callApi('/users/me', { token: victim.token })).status).toBe(200);
  });

  it('logs out everywhere: every token of the account stops working', async () => {
    const user = await signUp('everywhere');
    const second = await readToken(await logIn(user));
    const res = await callApi('/auth/logout-all', { method: 'POST', token: second });
    expect(res.status).toBe(204);
    expect((await callApi('/users/me', { token: user.token })).status).toBe(401);
    expect((await callApi('/users/me', { token: second })).status).toBe(401);
  });
});

describe('password change', () => {
  it('needs the current password, then ends every other session and keeps this one', async () => {
    const user = await signUp('passwd');
    const stolen = await readToken(await logIn(user));
    const wrong = await callApi('/auth/password', {
      method: 'POST',
      token: user.token,
      body: { current_password: 'not it at all', new_password: 'a brand new password' },
    });
    expect(wrong.status).toBe(403);
    expect((await readError(wrong)).code).toBe('wrong_password');

    const changed = await callApi('/auth/password', {
      method: 'POST',
      token: user.token,
      body: { current_password: user.password, new_password: 'a brand new password' },
    });
    expect(changed.status).toBe(204);
    expect((await callApi('/users/me', { token: stolen })).status).toBe(401);
    expect((await callApi('/users/me', { token: user.token })).status).toBe(200);
    expect((await logIn(user)).status).toBe(401);
    expect((await logIn(user, { password: 'a brand new password' })).status).toBe(200);
  });

  it('limits password-change attempts per account, so a stolen token cannot guess the password', async () => {
    const user = await signUp('guessing');
    const limit = readRateLimit(env, 'password_change_per_account').limit;
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++) {
      const res = await callApi('/auth/password', {
        method: 'POST',
        token: user.token,
        body: { current_password: `guess ${i} of many`, new_password: 'a brand new password' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array(limit).fill(403), 429]);
  });
});
