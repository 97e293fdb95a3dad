// Helix under /helix/ (docs/twitch-compat.md): Client-Id + Bearer, scopes, Twitch's error shape,
// Ratelimit-* headers, and the priority routes against real D1 and chat objects.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signUp } from './api-helpers.ts';
import { createUserToken, form, HelixErrorBody, helix, oauth, TokenAnswer } from './oauth-helpers.ts';

/** Marks the user's channel live with `viewers`, as the stream lifecycle would leave the row. */
async function goLive(userId: string, viewers: number, title = 'live now'): Promise<string> {
  const id = crypto.randomUUID();
  await env.DB.prepare(
    `INSERT INTO streams (id, channel_id, title, category_id, language, status, viewer_count, started_at, created_at)
     SELECT ?, id, ?, 2, 'en', 'live', ?, ?, ? FROM channels WHERE user_id = ?`,
  )
    .bind(id, title, viewers, Date.now(), Date.now(), userId)
    .run();
  return id;
}

const Page = z.object({
  data: z.array(z.looseObject({})),
  pagination: z.object({ cursor: z.string().optional() }).optional(),
});

describe('Helix authentication', () => {
  it("refuses a missing token, an invalid token, a missing Client-Id and another client's id with 401", async () => {
    const { app, tokens } = await createUserToken(['chat:read']);
    const cases: [{ clientId?: string; token?: string }, string][] = [
      [{ clientId: app.client_id }, 'OAuth token is missing'],
      [{ clientId: app.client_id, token: 'a'.repeat(30) }, 'Invalid OAuth token'],
      [{ token: tokens.access_token }, 'Client ID is missing'],
      [{ clientId: 'b'.repeat(30), token: tokens.access_token }, 'Client ID and OAuth token do not match'],
    ];
    for (const [auth, message] of cases) {
      const res = await helix('/users', auth);
      expect(res.status).toBe(401);
      expect(HelixErrorBody.parse(await res.json())).toEqual({ error: 'Unauthorized', status: 401, message });
    }
  });

  it('a web session token is not a Helix token', async () => {
    const user = await signUp('helix');
    const { app } = await createUserToken([], user);
    expect((await helix('/users', { clientId: app.client_id, token: user.token })).status).toBe(401);
  });

  it('a revoked token is refused at once', async () => {
    const { app, tokens } = await createUserToken([]);
    await oauth('/revoke', form({ client_id: app.client_id, token: tokens.access_token }));
    const res = await helix('/users', { clientId: app.client_id, token: tokens.access_token });
    expect(res.status).toBe(401);
  });

  it('carries Ratelimit headers: a fresh bucket of 800 answers 799 remaining after the first call', async () => {
    const { app, tokens } = await createUserToken([]);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const first = await helix('/users', auth);
    const second = await helix('/users', auth);
    expect(first.headers.get('Ratelimit-Limit')).toBe('800');
    const remaining = Number(first.headers.get('Ratelimit-Remaining'));
    expect(remaining).toBe(799);
    // The bucket refills continuously (800 a minute), so the second call may have earned a fraction back.
    expect(Number(second.headers.get('Ratelimit-Remaining'))).toBeGreaterThanOrEqual(798);
    expect(Number(second.headers.get('Ratelimit-Remaining'))).toBeLessThanOrEqual(799);
    expect(Number(first.headers.get('Ratelimit-Reset'))).toBeGreaterThanOrEqual(
      Math.floor(Date.now() / 1000),
    );
  });

  it("answers 429 in Twitch's shape once the bucket is empty", async () => {
    const { app, tokens, user } = await createUserToken([]);
    await env.DB.prepare('UPDATE helix_rate_buckets SET points = 0.2, updated_at = ? WHERE bucket = ?')
      .bind(Date.now() + 60_000, `${app.client_id}:${user.user.id}`)
      .run();
    // The bucket row exists only after a first call; make one, then empty it.
    await helix('/users', { clientId: app.client_id, token: tokens.access_token });
    await env.DB.prepare('UPDATE helix_rate_buckets SET points = 0, updated_at = ? WHERE bucket = ?')
      .bind(Date.now() + 5_000, `${app.client_id}:${user.user.id}`)
      .run();
    const res = await helix('/users', { clientId: app.client_id, token: tokens.access_token });
    expect(res.status).toBe(429);
    expect(res.headers.get('Ratelimit-Remaining')).toBe('0');
    expect(HelixErrorBody.parse(await res.json()).error).toBe('Too Many Requests');
  });

  it("refuses a body over 64 KiB with 413 in Twitch's shape", async () => {
    const { app, tokens, user } = await createUserToken(['channel:manage:broadcast']);
    const res = await helix(
      `/channels?broadcaster_id=${user.user.id}`,
      { clientId: app.client_id, token: tokens.access_token },
      {
        method: 'PATCH',
        body: { title: 'x', padding: 'a'.repeat(70_000) },
      },
    );
    expect(res.status).toBe(413);
    expect(HelixErrorBody.parse(await res.json()).status).toBe(413);
  });

  it("an unknown Helix route is Twitch's 404", async () => {
    const { app, tokens } = await createUserToken([]);
    const res = await helix('/no-such-route', { clientId: app.client_id, token: tokens.access_token });
    expect(res.status).toBe(404);
    expect(HelixErrorBody.parse(await res.json()).status).toBe(404);
  });
});

describe('Helix scopes', () => {
  it("modify channel needs channel:manage:broadcast and the token's own broadcaster_id", async () => {
    const unscoped = await createUserToken(['chat:read']);
    const auth = { clientId: unscoped.app.client_id, token: unscoped.tokens.access_token };
    const path = `/channels?broadcaster_id=${unscoped.user.user.id}`;
    const refused = await helix(path, auth, { method: 'PATCH', body: { title: 'new' } });
    expect(refused.status).toBe(401);
    expect(HelixErrorBody.parse(await refused.json()).message).toBe(
      'Missing scope: channel:manage:broadcast',
    );

    const scoped = await createUserToken(['channel:manage:broadcast']);
    const scopedAuth = { clientId: scoped.app.client_id, token: scoped.tokens.access_token };
    const other = await helix(path, scopedAuth, { method: 'PATCH', body: { title: 'hijack' } });
    expect(other.status).toBe(401);
    const own = await helix(`/channels?broadcaster_id=${scoped.user.user.id}`, scopedAuth, {
      method: 'PATCH',
      body: { title: 'Helix title', game_id: '2', tags: ['helix'] },
    });
    expect(own.status).toBe(204);
    const read = Page.parse(
      await (await helix(`/channels?broadcaster_id=${scoped.user.user.id}`, scopedAuth)).json(),
    );
    expect(read.data[0]).toMatchObject({
      title: 'Helix title',
      game_id: '2',
      game_name: 'Music',
      tags: ['helix'],
    });
  });

  it('bans need moderator:manage:banned_users, and a moderator_id that moderates the channel (403 otherwise)', async () => {
    const broadcaster = await createUserToken(['moderator:manage:banned_users']);
    const target = await signUp('target');
    const auth = { clientId: broadcaster.app.client_id, token: broadcaster.tokens.access_token };
    const id = broadcaster.user.user.id;
    const ban = await helix(`/moderation/bans?broadcaster_id=${id}&moderator_id=${id}`, auth, {
      method: 'POST',
      body: { data: { user_id: target.user.id, reason: 'spam' } },
    });
    expect(ban.status).toBe(200);
    expect(Page.parse(await ban.json()).data[0]).toMatchObject({ user_id: target.user.id, end_time: null });
    const unban = await helix(
      `/moderation/bans?broadcaster_id=${id}&moderator_id=${id}&user_id=${target.user.id}`,
      auth,
      {
        method: 'DELETE',
      },
    );
    expect(unban.status).toBe(204);

    const outsider = await createUserToken(['moderator:manage:banned_users']);
    const outsiderId = outsider.user.user.id;
    const refused = await helix(
      `/moderation/bans?broadcaster_id=${id}&moderator_id=${outsiderId}`,
      {
        clientId: outsider.app.client_id,
        token: outsider.tokens.access_token,
      },
      { method: 'POST', body: { data: { user_id: target.user.id } } },
    );
    expect(refused.status).toBe(403);

    const unscoped = await createUserToken(['chat:read'], broadcaster.user);
    const noScope = await helix(
      `/moderation/bans?broadcaster_id=${id}&moderator_id=${id}`,
      {
        clientId: unscoped.app.client_id,
        token: unscoped.tokens.access_token,
      },
      { method: 'POST', body: { data: { user_id: target.user.id } } },
    );
    expect(noScope.status).toBe(401);
  });

  it('an app access token cannot act for a user', async () => {
    const { app, user } = await createUserToken([]);
    const tokenRes = await oauth(
      '/token',
      form({
        grant_type: 'client_credentials',
        client_id: app.client_id,
        client_secret: app.client_secret ?? '',
      }),
    );
    const appToken = TokenAnswer.parse(await tokenRes.json()).access_token;
    const auth = { clientId: app.client_id, token: appToken };
    const self = await helix('/users', auth);
    expect(self.status).toBe(400);
    const patch = await helix(`/channels?broadcaster_id=${user.user.id}`, auth, {
      method: 'PATCH',
      body: { title: 'x' },
    });
    expect(patch.status).toBe(401);
    // Public reads work with an app token, as on Twitch.
    expect((await helix(`/users?id=${user.user.id}`, auth)).status).toBe(200);
  });
});

describe('Helix routes', () => {
  it("users by id and login, and the token's own user without parameters", async () => {
    const { app, tokens, user } = await createUserToken([]);
    const other = await signUp('other');
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const self = Page.parse(await (await helix('/users', auth)).json());
    expect(self.data).toEqual([
      expect.objectContaining({ id: user.user.id, login: user.user.username.toLowerCase() }),
    ]);
    const both = Page.parse(
      await (await helix(`/users?id=${user.user.id}&login=${other.user.username}`, auth)).json(),
    );
    expect(both.data.map((row) => row.id).sort()).toEqual([user.user.id, other.user.id].sort());
  });

  it('streams: filters, viewer order and cursor pagination as Twitch pages them', async () => {
    const { app, tokens } = await createUserToken([]);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const users = await Promise.all([signUp('s1'), signUp('s2'), signUp('s3')]);
    const base = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    for (const [index, user] of users.entries()) await goLive(user.user.id, base + index);
    const ids = users.map((user) => `user_id=${user.user.id}`).join('&');
    const first = Page.parse(await (await helix(`/streams?${ids}&first=2`, auth)).json());
    expect(first.data.map((row) => row.viewer_count)).toEqual([base + 2, base + 1]);
    expect(first.pagination?.cursor).toBeDefined();
    const second = Page.parse(
      await (await helix(`/streams?${ids}&first=2&after=${first.pagination?.cursor}`, auth)).json(),
    );
    expect(second.data.map((row) => row.viewer_count)).toEqual([base]);
    expect(second.pagination).toEqual({});
    const byLogin = Page.parse(
      await (await helix(`/streams?user_login=${users[0]?.user.username}`, auth)).json(),
    );
    expect(byLogin.data).toEqual([
      expect.objectContaining({ type: 'live', game_id: '2', game_name: 'Music' }),
    ]);
    const bad = await helix('/streams?first=500', auth);
    expect(bad.status).toBe(400);
    const forged = await helix('/streams?after=not-a-cursor', auth);
    expect(forged.status).toBe(400);
  });

  it('games, top games and category and channel search', async () => {
    const { app, tokens, user } = await createUserToken([]);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    await goLive(user.user.id, 5, 'searchable title');
    const games = Page.parse(await (await helix('/games?id=1&name=Music', auth)).json());
    expect(games.data.map((row) => row.name).sort()).toEqual(['Just Chatting', 'Music']);
    const top = Page.parse(await (await helix('/games/top?first=3', auth)).json());
    expect(top.data).toHaveLength(3);
    const categories = Page.parse(await (await helix('/search/categories?query=chat', auth)).json());
    expect(categories.data.map((row) => row.name)).toContain('Just Chatting');
    const channels = Page.parse(
      await (await helix(`/search/channels?query=${user.user.username}&live_only=true`, auth)).json(),
    );
    expect(channels.data[0]).toMatchObject({ id: user.user.id, is_live: true, title: 'searchable title' });
  });

  it('followers: the total for anyone, the list only with moderator:read:followers for the broadcaster', async () => {
    const broadcaster = await createUserToken(['moderator:read:followers']);
    const follower = await createUserToken(['user:read:follows']);
    const channelRow = await env.DB.prepare('SELECT id FROM channels WHERE user_id = ?')
      .bind(broadcaster.user.user.id)
      .first();
    const channelId = z.object({ id: z.string() }).parse(channelRow).id;
    await env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
      .bind(follower.user.user.id, channelId, Date.now())
      .run();
    const path = `/channels/followers?broadcaster_id=${broadcaster.user.user.id}`;
    const asOwner = await (
      await helix(path, { clientId: broadcaster.app.client_id, token: broadcaster.tokens.access_token })
    ).json();
    expect(asOwner).toMatchObject({ total: 1, data: [{ user_id: follower.user.user.id }] });
    const asOther = await (
      await helix(path, { clientId: follower.app.client_id, token: follower.tokens.access_token })
    ).json();
    expect(asOther).toMatchObject({ total: 1, data: [] });
    const followed = await helix(`/channels/followed?user_id=${follower.user.user.id}`, {
      clientId: follower.app.client_id,
      token: follower.tokens.access_token,
    });
    expect(await followed.json()).toMatchObject({
      total: 1,
      data: [{ broadcaster_id: broadcaster.user.user.id }],
    });
  });

  it('chat settings: read by anyone, changed by the broadcaster with moderator:manage:chat_settings', async () => {
    const owner = await createUserToken(['moderator:manage:chat_settings']);
    const id = owner.user.user.id;
    const auth = { clientId: owner.app.client_id, token: owner.tokens.access_token };
    const changed = await helix(`/chat/settings?broadcaster_id=${id}&moderator_id=${id}`, auth, {
      method: 'PATCH',
      body: { slow_mode: true, slow_mode_wait_time: 10, emote_mode: true },
    });
    expect(changed.status).toBe(200);
    const read = Page.parse(await (await helix(`/chat/settings?broadcaster_id=${id}`, auth)).json());
    expect(read.data[0]).toMatchObject({
      slow_mode: true,
      slow_mode_wait_time: 10,
      emote_mode: true,
      follower_mode: false,
    });
  });

  it("moderators and VIPs: the broadcaster's own list with moderation:read / channel:read:vips", async () => {
    const owner = await createUserToken(['moderation:read']);
    const auth = { clientId: owner.app.client_id, token: owner.tokens.access_token };
    const mods = await helix(`/moderation/moderators?broadcaster_id=${owner.user.user.id}`, auth);
    expect(Page.parse(await mods.json()).data).toEqual([]);
    const vips = await helix(`/channels/vips?broadcaster_id=${owner.user.user.id}`, auth);
    expect(vips.status).toBe(401);
    expect(HelixErrorBody.parse(await vips.json()).message).toContain('Missing scope');
  });
});
