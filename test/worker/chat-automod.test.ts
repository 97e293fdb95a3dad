// AutoMod (durable-objects/chat/automod.ts): with it on, shouting, long runs of one character and
// links to domains the channel did not allow are held for a moderator instead of sent; a moderator
// approves (everyone gets it, once) or denies (nobody does). Real Worker, shards and room in workerd.
import { describe, expect, it } from 'vitest';
import { reviewMessage } from '../../durable-objects/chat/automod.ts';
import { AUTOMOD_HELD_NOTICE } from '../../durable-objects/chat-room/chat-room.ts';
import { callApi, readError } from './api-helpers.ts';
import {
  grantRole,
  type JsonClient,
  openJson,
  type SeededUser,
  seedUser,
  waitUntil,
} from './chat-fixtures.ts';

describe('AutoMod checks', () => {
  it('holds shouting, long runs of one character and links outside the allowed domains, and nothing else', () => {
    const allowed = ['example.com'];
    expect(reviewMessage('THIS STREAM IS AMAZING TODAY', allowed)?.reason).toBe('caps');
    expect(reviewMessage('GG WP', allowed)).toBeNull();
    expect(reviewMessage('wow!!!!!!!!!!', allowed)?.reason).toBe('repeated_characters');
    expect(reviewMessage('wow!!!', allowed)).toBeNull();
    expect(reviewMessage('buy followers at cheap-views.shop now', allowed)).toMatchObject({
      reason: 'link',
      detail: 'a link to cheap-views.shop',
    });
    expect(reviewMessage('see https://clips.example.com/abc', allowed)).toBeNull();
    expect(reviewMessage('see www.Example.com.', allowed)).toBeNull();
    expect(reviewMessage('notexample.com is not example.com', allowed)?.reason).toBe('link');
    expect(reviewMessage('version 1.2 ships today, i.e. soon', allowed)).toBeNull();
  });
});

async function enableAutomod(owner: SeededUser, domains: string[] = []): Promise<void> {
  const res = await callApi(`/channels/${owner.channelId}/chat/settings`, {
    method: 'PATCH',
    token: owner.token,
    body: { automod: true, automod_allowed_domains: domains },
  });
  expect(res.status).toBe(200);
}

async function listHeld(owner: SeededUser, token: string): Promise<Response> {
  return callApi(`/channels/${owner.channelId}/chat/automod`, { token });
}

async function heldIds(owner: SeededUser, token: string): Promise<string[]> {
  const res = await listHeld(owner, token);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: { id: string; content: string; reason: string }[] };
  return body.data.map((m) => m.id);
}

function decide(owner: SeededUser, token: string, messageId: string, action: string): Promise<Response> {
  return callApi(`/channels/${owner.channelId}/chat/automod/${messageId}`, {
    method: 'POST',
    token,
    body: { action },
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sees(client: JsonClient, content: string): boolean {
  return client.messages().some((m) => m.content === content);
}

describe('AutoMod in a room', () => {
  it('holds a message for moderators, sends it to everyone once when approved, and never when denied', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    await enableAutomod(owner, ['example.com']);
    const sender = await openJson(owner.channelId, viewer.token);
    const watcher = await openJson(owner.channelId);

    sender.say(owner.channelId, 'FOLLOW MY CHANNEL RIGHT NOW');
    await sender.next('notice', (f) => f.code === 'msg_rejected' && f.message === AUTOMOD_HELD_NOTICE);
    // The room takes one message per user per 1.5 s (chat/rules.ts).
    await pause(1600);
    sender.say(owner.channelId, 'cheap views at cheap-views.shop');
    await waitUntil(() => (sender.frames.filter((f) => f.type === 'notice').length === 2 ? true : undefined));
    await pause(1600);
    // An allowed link goes straight out.
    sender.say(owner.channelId, 'clip: https://clips.example.com/1');
    await watcher.next('chat_message', (m) => m.content === 'clip: https://clips.example.com/1');

    const ids = await heldIds(owner, mod.token);
    expect(ids).toHaveLength(2);
    expect(sees(watcher, 'FOLLOW MY CHANNEL RIGHT NOW')).toBe(false);
    const [shout, link] = ids as [string, string];

    // Viewers cannot see or decide the queue.
    expect((await listHeld(owner, viewer.token)).status).toBe(403);
    const refused = await decide(owner, viewer.token, shout, 'approve');
    expect(refused.status).toBe(403);
    expect((await readError(refused)).code).toBe('forbidden');

    expect(await (await decide(owner, mod.token, shout, 'approve')).json()).toMatchObject({
      code: 'automod_approved',
    });
    await watcher.next('chat_message', (m) => m.content === 'FOLLOW MY CHANNEL RIGHT NOW');
    // Once: a second approval finds nothing and sends nothing.
    expect((await decide(owner, mod.token, shout, 'approve')).status).toBe(404);

    expect((await decide(owner, owner.token, link, 'deny')).status).toBe(200);
    expect(await heldIds(owner, mod.token)).toEqual([]);
    await pause(500);
    expect(watcher.messages().filter((m) => m.content === 'FOLLOW MY CHANNEL RIGHT NOW')).toHaveLength(1);
    expect(sees(watcher, 'cheap views at cheap-views.shop')).toBe(false);
    expect((await decide(owner, mod.token, crypto.randomUUID(), 'bogus')).status).toBe(400);
  });

  it('never holds the broadcaster, moderators or VIPs, and holds nothing while off', async () => {
    const owner = await seedUser('own');
    const mod = await seedUser('mod');
    const vip = await seedUser('vip');
    const viewer = await seedUser('v');
    await grantRole(owner.channelId, mod.id, 'moderator');
    await grantRole(owner.channelId, vip.id, 'vip');
    const watcher = await openJson(owner.channelId);
    const quiet = await openJson(owner.channelId, viewer.token);
    quiet.say(owner.channelId, 'AUTOMOD IS NOT ON YET SO THIS GOES');
    await watcher.next('chat_message', (m) => m.content === 'AUTOMOD IS NOT ON YET SO THIS GOES');

    await enableAutomod(owner);
    for (const [user, text] of [
      [owner, 'BROADCASTER SHOUTING IS FINE'],
      [mod, 'MODERATOR SHOUTING IS FINE TOO'],
      [vip, 'VIP SHOUTING IS FINE AS WELL'],
    ] as const) {
      const client = await openJson(owner.channelId, user.token);
      client.say(owner.channelId, text);
      await watcher.next('chat_message', (m) => m.content === text);
      client.close();
    }
    expect(await heldIds(owner, owner.token)).toEqual([]);
  });

  it('keeps AutoMod settings from everyone but the broadcaster and moderators', async () => {
    const owner = await seedUser('own');
    await enableAutomod(owner, ['example.com']);
    const anonymous = await callApi(`/channels/${owner.channelId}/chat/settings`);
    const body = (await anonymous.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('automod');
    expect(body).not.toHaveProperty('automod_allowed_domains');
    const own = await callApi(`/channels/${owner.channelId}/chat/settings`, { token: owner.token });
    expect(await own.json()).toMatchObject({ automod: true, automod_allowed_domains: ['example.com'] });
    const tooMany = await callApi(`/channels/${owner.channelId}/chat/settings`, {
      method: 'PATCH',
      token: owner.token,
      body: { automod_allowed_domains: Array.from({ length: 101 }, (_, i) => `d${i}.example`) },
    });
    expect(tooMany.status).toBe(400);
  });
});
