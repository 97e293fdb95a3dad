import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toClientNetwork } from '../../common/client-network.ts';
import { RESERVED_USERNAMES } from '../../workers/api/routes/auth.ts';
import { callApi, createTestIp, createUsername, readError, signUp } from './api-helpers.ts';

describe('auth', () => {
  it('signs up a user together with their channel and a working session', async () => {
    const username = createUsername('signup');
    const res = await callApi('/auth/signup', {
      method: 'POST',
      body: { username, password: 'hunter2hunter2' },
    });
    expect(res.status).toBe(201);
    const body = z
      .object({
        token: z.string(),
        user: z.object({ id: z.string(), username: z.string() }),
        channel: z.looseObject({
          id: z.string(),
          name: z.string(),
          display_name: z.string(),
          tier: z.string(),
        }),
      })
      .parse(await res.json());
    expect(body.user.username).toBe(username);
    expect(body.channel).toMatchObject({ name: username, display_name: username, tier: 'none' });

    const stored = await env.DB.prepare(
      'SELECT password_hash, stream_key_version FROM users JOIN channels ON channels.user_id = users.id WHERE users.id = ?',
    )
      .bind(body.user.id)
      .first<{ password_hash: string; stream_key_version: number }>();
    expect(stored?.password_hash).toMatch(/^pbkdf2-sha256\$100000\$/);
    expect(stored?.stream_key_version).toBe(1);
    const session = await env.DB.prepare('SELECT token_hash FROM sessions WHERE user_id = ?')
      .bind(body.user.id)
      .first<{ token_hash: string }>();
    expect(session?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(session?.token_hash).not.toBe(body.token);

    const me = await callApi('/users/me', { token: body.token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { id: body.user.id }, channel: { id: body.channel.id } });
  });

  it('rejects a username that is taken, whatever its case, with 409', async () => {
    const first = await signUp('dup');
    const res = await callApi('/auth/signup', {
      method: 'POST',
      body: { username: first.user.username.toUpperCase(), password: 'another password' },
    });
    expect(res.status).toBe(409);
    expect((await readError(res)).code).toBe('conflict');
  });

  it('answers invalid usernames and short passwords with validation_failed', async () => {
    for (const body of [
      { username: 'ab', password: 'long enough pw' },
      { username: 'has space', password: 'long enough pw' },
      { username: createUsername(), password: 'short' },
      { username: createUsername() },
    ]) {
      const res = await callApi('/auth/signup', { method: 'POST', body });
      expect(res.status).toBe(400);
      const error = await readError(res);
      expect(error.code).toBe('validation_failed');
      expect(Array.isArray(error.details)).toBe(true);
    }
  });

  it('answers malformed JSON with 400 bad_request', async () => {
    const res = await callApi('/auth/signup', { method: 'POST', rawBody: '{"username": ' });
    expect(res.status).toBe(400);
    expect((await readError(res)).code).toBe('bad_request');
  });

  it('logs in with the right password and refuses a wrong one', async () => {
    const user = await signUp('login');
    const ok = await callApi('/auth/login', {
      method: 'POST',
      body: { username: user.user.username, password: user.password },
    });
    expect(ok.status).toBe(200);
    const { token } = z.object({ token: z.string() }).parse(await ok.json());
    expect(token).not.toBe(user.token);

    const bad = await callApi('/auth/login', {
      method: 'POST',
      body: { username: user.user.username, password: 'not the password' },
    });
    expect(bad.status).toBe(401);
    const unknown = await callApi('/auth/login', {
      method: 'POST',
      body: { username: createUsername('ghost'), password: 'whatever123' },
    });
    expect(unknown.status).toBe(401);
  });

  it('logs out by deleting the session, after which the token is refused', async () => {
    const user = await signUp('logout');
    const res = await callApi('/auth/logout', { method: 'POST', token: user.token });
    expect(res.status).toBe(204);
    const me = await callApi('/users/me', { token: user.token });
    expect(me.status).toBe(401);
    expect((await readError(me)).code).toBe('unauthorized');
  });

  it('refuses /users/me without a token and with an expired one', async () => {
    expect((await callApi('/users/me')).status).toBe(401);
    const user = await signUp('expired');
    await env.DB.prepare('UPDATE sessions SET expires_at = ? WHERE user_id = ?')
      .bind(Date.now() - 1, user.user.id)
      .run();
    expect((await callApi('/users/me', { token: user.token })).status).toBe(401);
  });

  it('rate-limits logins per IP with 429 and a Retry-After', async () => {
    const ip = createTestIp();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 11; i++) {
      last = await callApi('/auth/login', {
        method: 'POST',
        ip,
        body: { username: createUsername('nobody'), password: 'wrong password' },
      });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    expect(Number(last?.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(Number(last?.headers.get('Retry-After'))).toBeLessThanOrEqual(60);
  });

  it('rate-limits logins to one username from one network, not for the account everywhere', async () => {
    const user = await signUp('target');
    const ip = createTestIp();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await callApi('/auth/login', {
        method: 'POST',
        ip,
        body: { username: user.user.username, password: 'wrong password' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const elsewhere = await callApi('/auth/login', {
      method: 'POST',
      body: { username: user.user.username, password: user.password },
    });
    expect(elsewhere.status).toBe(200);
  });

  it('rate-limits signups per IP to 5 an hour', async () => {
    const ip = createTestIp();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await callApi('/auth/signup', {
        method: 'POST',
        ip,
        body: { username: createUsername('burst'), password: 'long enough pw' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
  });

  it('rate-limits IPv6 signups per /64, so rotating the interface bits does not reset the limit', async () => {
    const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
    const prefix = `2001:db8:${hex()}:${hex()}`;
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const res = await callApi('/auth/signup', {
        method: 'POST',
        ip: `${prefix}:${hex()}:${hex()}::${i}`,
        body: { username: createUsername('v6burst'), password: 'long enough pw' },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    const neighbour = await callApi('/auth/signup', {
      method: 'POST',
      ip: `2001:db8:${hex()}:${hex()}::1`,
      body: { username: createUsername('v6other'), password: 'long enough pw' },
    });
    expect(neighbour.status).toBe(201);
  });

  it('refuses reserved usernames, whatever their case, with 422 username_reserved', async () => {
    expect(RESERVED_USERNAMES.size).toBeGreaterThanOrEqual(18);
    for (const username of [
      'dashboard',
      'Login',
      'API',
      'Admin',
      'clips',
      'overlay',
      'irc',
      'VOD',
      'activate',
      'OAuth2',
      'helix',
      'eventsub',
      'metrics',
    ]) {
      const res = await callApi('/auth/signup', {
        method: 'POST',
        body: { username, password: 'long enough pw' },
      });
      expect(res.status).toBe(422);
      expect((await readError(res)).code).toBe('username_reserved');
    }
    const row = await env.DB.prepare(
      "SELECT count(*) AS n FROM users WHERE username IN ('dashboard', 'irc')",
    ).first<{
      n: number;
    }>();
    expect(row?.n).toBe(0);
  });
});

describe('client networks', () => {
  it('keys IPv4 by address and IPv6 by its /64, in any spelling of the address', () => {
    expect(toClientNetwork('203.0.113.7')).toBe('203.0.113.7');
    expect(toClientNetwork('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(toClientNetwork('2001:0DB8:0001:0002:ffff:eeee:dddd:cccc')).toBe('2001:db8:1:2::/64');
    expect(toClientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(toClientNetwork('2001:db8:0:0:1::')).toBe('2001:db8:0:0::/64');
    expect(toClientNetwork('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(toClientNetwork('2001:db8:1:3::1')).not.toBe(toClientNetwork('2001:db8:1:2::1'));
    // Malformed addresses are buckets of their own rather than an error.
    expect(toClientNetwork('1::2::3')).toBe('1::2::3');
    expect(toClientNetwork('local')).toBe('local');
  });
});
