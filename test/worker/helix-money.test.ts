// Helix subscriptions, bits leaderboard, banned users, moderator/VIP changes, chat deletion and
// followed streams, on the real Worker, payment webhooks, chat room and D1: Twitch's shapes, its
// scopes (a token without one gets 401 "Missing scope: ...") and its "must match the user ID in
// the access token" rule.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { goLive, issueOAuthToken, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';
import { helix } from './eventsub-fixtures.ts';
import { deliverTwice, startCheckout } from './payments-fixtures.ts';

const HelixError = z.object({ error: z.string(), status: z.number(), message: z.string() });
const Page = z.looseObject({
  data: z.array(z.looseObject({})),
  pagination: z.object({ cursor: z.string().optional() }).optional(),
});

async function buy(user: SeededUser, body: Record<string, unknown>): Promise<void> {
  const checkout = await startCheckout(user.token, body);
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, Math.floor(Date.now() / 1000)));
}

async function expectError(res: Response, status: number, message: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(HelixError.parse(await res.json())).toMatchObject({ status, message });
}

describe('Helix subscriptions', () => {
  it('lists the active subscribers with total and points, pages with a cursor and filters by user_id', async () => {
    const owner = await seedUser('hso');
    const [a, b, gifter, lucky, lapsed] = await Promise.all(
      ['hsa', 'hsb', 'hsg', 'hsl', 'hsx'].map((prefix) => seedUser(prefix)),
    );
    if (!a || !b || !gifter || !lucky || !lapsed) throw new Error('seed');
    await buy(a, { kind: 'subscription', channel_id: owner.channelId, tier: 1000 });
    await buy(b, { kind: 'subscription', channel_id: owner.channelId, tier: 3000 });
    await buy(gifter, {
      kind: 'gift_subscription',
      channel_id: owner.channelId,
      tier: 2000,
      recipient_login: lucky.name,
    });
    // A subscription that ran out is not listed.
    await env.DB.prepare(
      `INSERT INTO subscriptions (id, user_id, channel_id, tier, cumulative_months, started_at, expires_at)
       VALUES (?, ?, ?, 1000, 1, 0, ?)`,
    )
      .bind(crypto.randomUUID(), lapsed.id, owner.channelId, Date.now() - 1000)
      .run();
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    const all = await helix(`/subscriptions?broadcaster_id=${owner.id}`, token, owner.clientId);
    expect(all.status).toBe(200);
    const body = z
      .object({
        data: z.array(z.looseObject({ user_id: z.string() })),
        total: z.number(),
        points: z.number(),
      })
      .parse(await all.json());
    expect(body.total).toBe(3);
    // Tier 1 is 1 point, tier 2 two, tier 3 six.
    expect(body.points).toBe(9);
    expect(body.data.map((row) => row.user_id).sort()).toEqual([a.id, b.id, lucky.id].sort());
    expect(body.data.find((row) => row.user_id === lucky.id)).toEqual({
      broadcaster_id: owner.id,
      broadcaster_login: owner.name,
      broadcaster_name: owner.name.toUpperCase(),
      gifter_id: gifter.id,
      gifter_login: gifter.name,
      gifter_name: gifter.name.toUpperCase(),
      is_gift: true,
      plan_name: `Channel Subscription (${owner.name})`,
      tier: '2000',
      user_id: lucky.id,
      user_name: lucky.name.toUpperCase(),
      user_login: lucky.name,
    });
    expect(body.data.find((row) => row.user_id === a.id)).toMatchObject({ is_gift: false, gifter_id: '' });

    const first = Page.parse(
      await (await helix(`/subscriptions?broadcaster_id=${owner.id}&first=2`, token, owner.clientId)).json(),
    );
    expect(first.data).toHaveLength(2);
    const cursor = first.pagination?.cursor;
    expect(cursor).toBeTruthy();
    const second = Page.parse(
      await (
        await helix(
          `/subscriptions?broadcaster_id=${owner.id}&first=2&after=${cursor}`,
          token,
          owner.clientId,
        )
      ).json(),
    );
    expect(second.data).toHaveLength(1);
    expect(second.pagination?.cursor).toBeUndefined();
    const filtered = Page.parse(
      await (
        await helix(
          `/subscriptions?broadcaster_id=${owner.id}&user_id=${b.id}&user_id=${lapsed.id}`,
          token,
          owner.clientId,
        )
      ).json(),
    );
    expect(filtered.data).toEqual([expect.objectContaining({ user_id: b.id, tier: '3000' })]);
  });

  it('refuses a token without channel:read:subscriptions, another broadcaster and a bad cursor', async () => {
    const owner = await seedUser('hsr');
    const other = await seedUser('hsq');
    const noScope = await issueOAuthToken(owner.clientId, owner.id, ['bits:read']);
    await expectError(
      await helix(`/subscriptions?broadcaster_id=${owner.id}`, noScope, owner.clientId),
      401,
      'Missing scope: channel:read:subscriptions',
    );
    const token = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    await expectError(
      await helix(`/subscriptions?broadcaster_id=${other.id}`, token, owner.clientId),
      401,
      'The ID in broadcaster_id must match the user ID in the access token',
    );
    await expectError(
      await helix(`/subscriptions?broadcaster_id=${owner.id}&after=forged`, token, owner.clientId),
      400,
      'Invalid cursor',
    );
  });

  it('checks one user subscription with user:read:subscriptions: the tier, or 404', async () => {
    const owner = await seedUser('huo');
    const other = await seedUser('huq');
    const fan = await seedUser('huf');
    await buy(fan, { kind: 'subscription', channel_id: owner.channelId, tier: 2000 });
    const token = await issueOAuthToken(fan.clientId, fan.id, ['user:read:subscriptions']);
    const res = await helix(
      `/subscriptions/user?broadcaster_id=${owner.id}&user_id=${fan.id}`,
      token,
      fan.clientId,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: [
        {
          broadcaster_id: owner.id,
          broadcaster_login: owner.name,
          broadcaster_name: owner.name.toUpperCase(),
          is_gift: false,
          tier: '2000',
        },
      ],
    });
    const none = await helix(
      `/subscriptions/user?broadcaster_id=${other.id}&user_id=${fan.id}`,
      token,
      fan.clientId,
    );
    expect(none.status).toBe(404);
    expect(HelixError.parse(await none.json())).toMatchObject({ error: 'Not Found', status: 404 });
    const noScope = await issueOAuthToken(fan.clientId, fan.id, ['chat:read']);
    await expectError(
      await helix(`/subscriptions/user?broadcaster_id=${owner.id}&user_id=${fan.id}`, noScope, fan.clientId),
      401,
      'Missing scope: user:read:subscriptions',
    );
    await expectError(
      await helix(`/subscriptions/user?broadcaster_id=${owner.id}&user_id=${owner.id}`, token, fan.clientId),
      401,
      'The ID in user_id must match the user ID in the access token',
    );
  });
});

describe('Helix bits leaderboard', () => {
  it('ranks cheerers by bits cheered in the channel, with count, period and started_at', async () => {
    const owner = await seedUser('hbo');
    const big = await seedUser('hbb');
    const small = await seedUser('hbs');
    await buy(big, { kind: 'bits', bits: 500 });
    await buy(small, { kind: 'bits', bits: 100 });
    const bigChat = await openJson(owner.channelId, big.token);
    const smallChat = await openJson(owner.channelId, small.token);
    const reader = await openJson(owner.channelId);
    bigChat.say(owner.channelId, 'Cheer200 go Cheer100');
    await reader.next('chat_message', (m) => m.bits === 300);
    smallChat.say(owner.channelId, 'Cheer50 hi');
    await reader.next('chat_message', (m) => m.bits === 50);
    const token = await issueOAuthToken(owner.clientId, owner.id, ['bits:read']);
    const all = await helix('/bits/leaderboard', token, owner.clientId);
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({
      data: [
        { user_id: big.id, user_login: big.name, user_name: big.name.toUpperCase(), rank: 1, score: 300 },
        {
          user_id: small.id,
          user_login: small.name,
          user_name: small.name.toUpperCase(),
          rank: 2,
          score: 50,
        },
      ],
      date_range: { started_at: '', ended_at: '' },
      total: 2,
    });
    const top = Page.parse(await (await helix('/bits/leaderboard?count=1', token, owner.clientId)).json());
    expect(top.data).toEqual([expect.objectContaining({ user_id: big.id, rank: 1 })]);
    const today = await helix(
      `/bits/leaderboard?period=day&started_at=${new Date().toISOString()}`,
      token,
      owner.clientId,
    );
    const todayBody = z
      .object({ data: z.array(z.looseObject({})), date_range: z.object({ started_at: z.string() }) })
      .parse(await today.json());
    expect(todayBody.data).toHaveLength(2);
    expect(todayBody.date_range.started_at).toMatch(/T00:00:00\.000Z$/);
    const past = Page.parse(
      await (
        await helix('/bits/leaderboard?period=week&started_at=2020-01-01T00:00:00Z', token, owner.clientId)
      ).json(),
    );
    expect(past.data).toHaveLength(0);
    const around = Page.parse(
      await (await helix(`/bits/leaderboard?count=1&user_id=${small.id}`, token, owner.clientId)).json(),
    );
    expect(around.data).toEqual([expect.objectContaining({ user_id: small.id, rank: 2 })]);
  });

  it('refuses a token without bits:read, a bad period and a count over 100', async () => {
    const owner = await seedUser('hbr');
    const noScope = await issueOAuthToken(owner.clientId, owner.id, ['channel:read:subscriptions']);
    await expectError(
      await helix('/bits/leaderboard', noScope, owner.clientId),
      401,
      'Missing scope: bits:read',
    );
    const token = await issueOAuthToken(owner.clientId, owner.id, ['bits:read']);
    expect((await helix('/bits/leaderboard?period=decade', token, owner.clientId)).status).toBe(400);
    expect((await helix('/bits/leaderboard?count=101', token, owner.clientId)).status).toBe(400);
    expect(
      (await helix('/bits/leaderboard?period=day&started_at=yesterday', token, owner.clientId)).status,
    ).toBe(400);
  });
});

describe('Helix moderation routes', () => {
  it('lists banned users with their moderator, and refuses without the scope', async () => {
    const owner = await seedUser('hmo');
    const troll = await seedUser('hmt');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect(
      await room.moderate(owner.channelId, owner.id, { kind: 'ban', target: troll.name, reason: 'spam' }),
    ).toMatchObject({ kind: 'done' });
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderation:read']);
    const res = await helix(`/moderation/banned?broadcaster_id=${owner.id}`, token, owner.clientId);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: [
        {
          user_id: troll.id,
          user_login: troll.name,
          user_name: troll.name.toUpperCase(),
          expires_at: '',
          created_at: expect.stringMatching(/Z$/),
          reason: 'spam',
          moderator_id: owner.id,
          moderator_login: owner.name,
          moderator_name: owner.name.toUpperCase(),
        },
      ],
      pagination: {},
    });
    const noScope = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    await expectError(
      await helix(`/moderation/banned?broadcaster_id=${owner.id}`, noScope, owner.clientId),
      401,
      'Missing scope: moderation:read or moderator:manage:banned_users',
    );
  });

  it('adds and removes a moderator and a VIP (204), refuses a repeat (400) and a token without the manage scope (401)', async () => {
    const owner = await seedUser('hro');
    const helper = await seedUser('hrh');
    const token = await issueOAuthToken(owner.clientId, owner.id, [
      'channel:manage:moderators',
      'channel:manage:vips',
    ]);
    const call = (method: string, path: string) =>
      helix(`${path}?broadcaster_id=${owner.id}&user_id=${helper.id}`, token, owner.clientId, { method });
    expect((await call('POST', '/moderation/moderators')).status).toBe(204);
    const mods = Page.parse(
      await (await helix(`/moderation/moderators?broadcaster_id=${owner.id}`, token, owner.clientId)).json(),
    );
    expect(mods.data).toEqual([expect.objectContaining({ user_id: helper.id })]);
    expect((await call('POST', '/moderation/moderators')).status).toBe(400);
    expect((await call('DELETE', '/moderation/moderators')).status).toBe(204);
    await expectError(
      await call('DELETE', '/moderation/moderators'),
      400,
      'The user in the user_id query parameter is not a moderator',
    );
    expect((await call('POST', '/channels/vips')).status).toBe(204);
    const vips = Page.parse(
      await (await helix(`/channels/vips?broadcaster_id=${owner.id}`, token, owner.clientId)).json(),
    );
    expect(vips.data).toEqual([expect.objectContaining({ user_id: helper.id })]);
    expect((await call('POST', '/channels/vips')).status).toBe(422);
    expect((await call('DELETE', '/channels/vips')).status).toBe(204);
    expect((await call('DELETE', '/channels/vips')).status).toBe(422);
    const readOnly = await issueOAuthToken(owner.clientId, owner.id, [
      'moderation:read',
      'channel:read:vips',
    ]);
    await expectError(
      await helix(
        `/moderation/moderators?broadcaster_id=${owner.id}&user_id=${helper.id}`,
        readOnly,
        owner.clientId,
        {
          method: 'POST',
        },
      ),
      401,
      'Missing scope: channel:manage:moderators',
    );
    await expectError(
      await helix(
        `/channels/vips?broadcaster_id=${owner.id}&user_id=${helper.id}`,
        readOnly,
        owner.clientId,
        {
          method: 'POST',
        },
      ),
      401,
      'Missing scope: channel:manage:vips',
    );
    // The broadcaster's own token only: a moderator cannot grant roles in someone else's channel.
    const helperToken = await issueOAuthToken(helper.clientId, helper.id, ['channel:manage:moderators']);
    await expectError(
      await helix(
        `/moderation/moderators?broadcaster_id=${owner.id}&user_id=${helper.id}`,
        helperToken,
        helper.clientId,
        {
          method: 'POST',
        },
      ),
      401,
      'The ID in broadcaster_id must match the user ID in the access token',
    );
  });

  it('deletes one chat message or clears the chat (204); a viewer who is not a moderator gets 403', async () => {
    const owner = await seedUser('hco');
    const viewer = await seedUser('hcv');
    const reader = await openJson(owner.channelId);
    const talker = await openJson(owner.channelId, viewer.token);
    talker.say(owner.channelId, 'delete me');
    const message = await reader.next('chat_message', (m) => m.content === 'delete me');
    const token = await issueOAuthToken(owner.clientId, owner.id, ['moderator:manage:chat_messages']);
    const one = await helix(
      `/moderation/chat?broadcaster_id=${owner.id}&moderator_id=${owner.id}&message_id=${message.id}`,
      token,
      owner.clientId,
      { method: 'DELETE' },
    );
    expect(one.status).toBe(204);
    expect((await reader.next('delete_message')).id).toBe(message.id);
    const all = await helix(
      `/moderation/chat?broadcaster_id=${owner.id}&moderator_id=${owner.id}`,
      token,
      owner.clientId,
      {
        method: 'DELETE',
      },
    );
    expect(all.status).toBe(204);
    await reader.next('clear_chat');
    const viewerToken = await issueOAuthToken(viewer.clientId, viewer.id, ['moderator:manage:chat_messages']);
    const refused = await helix(
      `/moderation/chat?broadcaster_id=${owner.id}&moderator_id=${viewer.id}`,
      viewerToken,
      viewer.clientId,
      { method: 'DELETE' },
    );
    expect(refused.status).toBe(403);
    const noScope = await issueOAuthToken(owner.clientId, owner.id, ['chat:read']);
    await expectError(
      await helix(
        `/moderation/chat?broadcaster_id=${owner.id}&moderator_id=${owner.id}`,
        noScope,
        owner.clientId,
        {
          method: 'DELETE',
        },
      ),
      401,
      'Missing scope: moderator:manage:chat_messages',
    );
  });
});

describe('Helix followed streams', () => {
  it("lists the live streams of the user's followed channels, with user:read:follows only", async () => {
    const fan = await seedUser('hff');
    const live = await seedUser('hfl');
    const offline = await seedUser('hfo');
    const unfollowed = await seedUser('hfu');
    for (const channel of [live, offline]) {
      await env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
        .bind(fan.id, channel.channelId, Date.now())
        .run();
    }
    await goLive(live.channelId);
    await goLive(unfollowed.channelId);
    const token = await issueOAuthToken(fan.clientId, fan.id, ['user:read:follows']);
    const res = await helix(`/streams/followed?user_id=${fan.id}`, token, fan.clientId);
    expect(res.status).toBe(200);
    const body = Page.parse(await res.json());
    expect(body.data).toEqual([
      expect.objectContaining({ user_id: live.id, user_login: live.name, type: 'live', title: 'live now' }),
    ]);
    const noScope = await issueOAuthToken(fan.clientId, fan.id, ['chat:read']);
    await expectError(
      await helix(`/streams/followed?user_id=${fan.id}`, noScope, fan.clientId),
      401,
      'Missing scope: user:read:follows',
    );
    await expectError(
      await helix(`/streams/followed?user_id=${live.id}`, token, fan.clientId),
      401,
      'The ID in user_id must match the user ID in the access token',
    );
  });
});
