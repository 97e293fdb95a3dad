// Helix chat sending, emotes, badges, videos, clips and raids (docs/twitch-compat.md), through the
// real Worker, D1 and ChatRoom objects.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signUp } from './api-helpers.ts';
import { createUserToken, HelixErrorBody, helix } from './oauth-helpers.ts';

const Data = z.object({ data: z.array(z.looseObject({})) });

async function channelOf(userId: string): Promise<string> {
  const row = await env.DB.prepare('SELECT id FROM channels WHERE user_id = ?').bind(userId).first();
  return z.object({ id: z.string() }).parse(row).id;
}

/** An ended stream with a ready VOD and a ready clip, as finalize-vod and the clip job leave them. */
async function seedVodAndClip(userId: string): Promise<{ vodId: string; clipId: string }> {
  const channelId = await channelOf(userId);
  const streamId = crypto.randomUUID();
  const vodId = crypto.randomUUID();
  const clipId = crypto.randomUUID();
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO streams (id, channel_id, title, status, started_at, ended_at, created_at) VALUES (?, ?, 'past', 'ended', ?, ?, ?)`,
    ).bind(streamId, channelId, now - 3_600_000, now - 60_000, now - 3_600_000),
    env.DB.prepare(
      `INSERT INTO vods (id, stream_id, channel_id, title, duration_seconds, created_at, expires_at) VALUES (?, ?, ?, 'past', 3723, ?, ?)`,
    ).bind(vodId, streamId, channelId, now, now + 86_400_000),
    env.DB.prepare(
      `INSERT INTO clips (id, stream_id, vod_id, channel_id, creator_id, title, duration_seconds, offset_seconds,
         window_start, window_end, status, created_at) VALUES (?, ?, ?, ?, ?, 'a clip', 20, 100, ?, ?, 'ready', ?)`,
    ).bind(clipId, streamId, vodId, channelId, userId, now - 100_000, now - 80_000, now),
  ]);
  return { vodId, clipId };
}

describe('Helix chat', () => {
  it('sends a chat message with user:write:chat, and refuses without the scope', async () => {
    const sender = await createUserToken(['user:write:chat']);
    const broadcaster = await signUp('room');
    const auth = { clientId: sender.app.client_id, token: sender.tokens.access_token };
    const body = {
      broadcaster_id: broadcaster.user.id,
      sender_id: sender.user.user.id,
      message: 'hello from helix',
    };
    const sent = await helix('/chat/messages', auth, { method: 'POST', body });
    expect(sent.status).toBe(200);
    expect(Data.parse(await sent.json()).data[0]).toMatchObject({
      is_sent: true,
      message_id: expect.any(String),
    });
    const readOnly = await createUserToken(['chat:read']);
    const refused = await helix(
      '/chat/messages',
      { clientId: readOnly.app.client_id, token: readOnly.tokens.access_token },
      { method: 'POST', body: { ...body, sender_id: readOnly.user.user.id } },
    );
    expect(refused.status).toBe(401);
    expect(HelixErrorBody.parse(await refused.json()).message).toBe('Missing scope: user:write:chat');
  });

  it('does not run a chat command: a broadcaster token with only user:write:chat cannot ban through it', async () => {
    const owner = await createUserToken(['user:write:chat']);
    const victim = await signUp('victim');
    const auth = { clientId: owner.app.client_id, token: owner.tokens.access_token };
    const res = await helix('/chat/messages', auth, {
      method: 'POST',
      body: {
        broadcaster_id: owner.user.user.id,
        sender_id: owner.user.user.id,
        message: `/ban ${victim.user.username}`,
      },
    });
    expect(Data.parse(await res.json()).data[0]).toMatchObject({ is_sent: false });
    const channelId = await channelOf(owner.user.user.id);
    const bans = await env.CHAT_ROOM.getByName(channelId).listBans(channelId);
    expect(bans ?? []).toEqual([]);
  });

  it("another user's sender_id is refused", async () => {
    const sender = await createUserToken(['user:write:chat']);
    const other = await signUp('other');
    const res = await helix(
      '/chat/messages',
      { clientId: sender.app.client_id, token: sender.tokens.access_token },
      { method: 'POST', body: { broadcaster_id: other.user.id, sender_id: other.user.id, message: 'spoof' } },
    );
    expect(res.status).toBe(401);
  });

  it('lists global emotes with a template and badge sets', async () => {
    const { app, tokens, user } = await createUserToken([]);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const emotes = await (await helix('/chat/emotes/global', auth)).json();
    expect(emotes).toMatchObject({ data: expect.any(Array), template: expect.stringContaining('{{id}}') });
    const badges = Data.parse(await (await helix('/chat/badges/global', auth)).json());
    expect(badges.data.map((set) => set.set_id)).toContain('moderator');
    const channelEmotes = await helix(`/chat/emotes?broadcaster_id=${user.user.id}`, auth);
    expect(channelEmotes.status).toBe(200);
  });
});

describe('Helix videos, clips and raids', () => {
  it("lists a channel's videos and clips in Twitch's shapes", async () => {
    const { app, tokens, user } = await createUserToken([]);
    const { vodId, clipId } = await seedVodAndClip(user.user.id);
    const auth = { clientId: app.client_id, token: tokens.access_token };
    const videos = Data.parse(await (await helix(`/videos?user_id=${user.user.id}`, auth)).json());
    expect(videos.data).toEqual([
      expect.objectContaining({ id: vodId, type: 'archive', duration: '1h2m3s' }),
    ]);
    const clips = Data.parse(await (await helix(`/clips?broadcaster_id=${user.user.id}`, auth)).json());
    expect(clips.data).toEqual([expect.objectContaining({ id: clipId, video_id: vodId, vod_offset: 100 })]);
    expect((await helix('/videos', auth)).status).toBe(400);
  });

  it("deletes a video only with channel:manage:videos and only the owner's", async () => {
    const owner = await createUserToken(['channel:manage:videos']);
    const { vodId } = await seedVodAndClip(owner.user.user.id);
    const stranger = await createUserToken(['channel:manage:videos']);
    const refused = await helix(
      `/videos?id=${vodId}`,
      { clientId: stranger.app.client_id, token: stranger.tokens.access_token },
      {
        method: 'DELETE',
      },
    );
    expect(refused.status).toBe(401);
    const unscoped = await createUserToken([], owner.user);
    const noScope = await helix(
      `/videos?id=${vodId}`,
      { clientId: unscoped.app.client_id, token: unscoped.tokens.access_token },
      {
        method: 'DELETE',
      },
    );
    expect(noScope.status).toBe(401);
    const deleted = await helix(
      `/videos?id=${vodId}`,
      { clientId: owner.app.client_id, token: owner.tokens.access_token },
      {
        method: 'DELETE',
      },
    );
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ data: [vodId] });
    const status = await env.DB.prepare('SELECT status FROM vods WHERE id = ?').bind(vodId).first();
    expect(z.object({ status: z.string() }).parse(status).status).not.toBe('ready');
  });

  it("a raid needs channel:manage:raids and the token's own from_broadcaster_id", async () => {
    const raider = await createUserToken(['chat:read']);
    const target = await signUp('target');
    const auth = { clientId: raider.app.client_id, token: raider.tokens.access_token };
    const path = `/raids?from_broadcaster_id=${raider.user.user.id}&to_broadcaster_id=${target.user.id}`;
    const noScope = await helix(path, auth, { method: 'POST' });
    expect(noScope.status).toBe(401);
    const scoped = await createUserToken(['channel:manage:raids']);
    const other = await helix(
      `/raids?from_broadcaster_id=${target.user.id}&to_broadcaster_id=${raider.user.user.id}`,
      {
        clientId: scoped.app.client_id,
        token: scoped.tokens.access_token,
      },
      { method: 'POST' },
    );
    expect(other.status).toBe(401);
    // An offline channel cannot raid (the room's rule, as for the /raid command): refused, not 500.
    const offline = await helix(
      `/raids?from_broadcaster_id=${scoped.user.user.id}&to_broadcaster_id=${target.user.id}`,
      {
        clientId: scoped.app.client_id,
        token: scoped.tokens.access_token,
      },
      { method: 'POST' },
    );
    expect([400, 403]).toContain(offline.status);
    expect(HelixErrorBody.parse(await offline.json()).status).toBe(offline.status);
  });

  it("creating a clip needs clips:edit and a live broadcaster; the dashboard's clip rules apply", async () => {
    const clipper = await createUserToken(['chat:read']);
    const broadcaster = await signUp('live');
    const path = `/clips?broadcaster_id=${broadcaster.user.id}`;
    const noScope = await helix(
      path,
      { clientId: clipper.app.client_id, token: clipper.tokens.access_token },
      { method: 'POST' },
    );
    expect(noScope.status).toBe(401);
    const scoped = await createUserToken(['clips:edit']);
    const auth = { clientId: scoped.app.client_id, token: scoped.tokens.access_token };
    const offline = await helix(path, auth, { method: 'POST' });
    expect(offline.status).toBe(404);
    // The channel turned clipping off: the same 403 the web app's clip button gets.
    const channelId = await channelOf(broadcaster.user.id);
    await env.DB.batch([
      env.DB.prepare('UPDATE channels SET clips_enabled = 0 WHERE id = ?').bind(channelId),
      env.DB.prepare(
        `INSERT INTO streams (id, channel_id, title, status, started_at, created_at) VALUES (?, ?, 'on air', 'live', ?, ?)`,
      ).bind(crypto.randomUUID(), channelId, Date.now(), Date.now()),
    ]);
    const disabled = await helix(path, auth, { method: 'POST' });
    expect(disabled.status).toBe(403);
    expect(HelixErrorBody.parse(await disabled.json()).message).toBe('This channel has turned clipping off');
  });
});
