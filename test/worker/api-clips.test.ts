// Clip abuse and the channel's say over its clips: per-user and per-channel creation limits (429 +
// Retry-After), refused requests counted before any work, no clips from users banned in the
// channel, one counted view per network, the channel setting that turns clipping off, and who may
// retitle or delete a clip (its creator, the channel owner, the channel's moderators while not banned).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEvent } from '../../protocol/events.ts';
import { createSession } from '../../workers/shared/auth.ts';
import { readRateLimit } from '../../workers/shared/limits.ts';
import { callApi, readError, signUp, type TestSession } from './api-helpers.ts';
import { deliver, listKeys, type SyntheticStream, startSyntheticStream } from './vod-fixtures.ts';

function postClip(token: string, stream: SyntheticStream, title = 'Nice play') {
  return callApi('/clips', {
    method: 'POST',
    token,
    body: { stream_id: stream.streamId, title, duration_seconds: 5, offset_seconds: -5 },
  });
}

async function createClip(token: string, stream: SyntheticStream): Promise<string> {
  const res = await postClip(token, stream);
  expect(res.status).toBe(202);
  return z.object({ clip_id: z.string() }).parse(await res.json()).clip_id;
}

async function signUpMany(count: number, prefix: string): Promise<TestSession[]> {
  const users: TestSession[] = [];
  for (let i = 0; i < count; i++) users.push(await signUp(prefix));
  return users;
}

describe('clip limits', () => {
  it("refuses a user's clips past the per-user limit with 429 and Retry-After; others may still clip", async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const [spammer, other] = await signUpMany(2, 'clipper');
    if (!spammer || !other) throw new Error('signup failed');
    const limit = readRateLimit(env, 'clips_per_user').limit;
    for (let i = 0; i < limit; i++) expect((await postClip(spammer.token, stream)).status).toBe(202);
    const refused = await postClip(spammer.token, stream);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await readError(refused)).message).toMatch(/too many clips/i);
    expect((await postClip(other.token, stream)).status).toBe(202);
  });

  it('refuses clips of a channel past the per-channel limit, however many accounts make them', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const perUser = readRateLimit(env, 'clips_per_user').limit;
    const perChannel = readRateLimit(env, 'clips_per_channel').limit;
    const users = await signUpMany(Math.ceil(perChannel / perUser) + 1, 'swarm');
    let made = 0;
    for (const user of users) {
      for (let i = 0; i < perUser && made < perChannel; i++, made++) {
        expect((await postClip(user.token, stream)).status).toBe(202);
      }
    }
    const late = users.at(-1);
    if (!late) throw new Error('no users');
    const refused = await postClip(late.token, stream);
    expect(refused.status).toBe(429);
    expect((await readError(refused)).message).toMatch(/channel/i);
  });
});

describe('clip abuse', () => {
  it('counts requests whose window is refused, so looping them meets 429 before more index reads', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const looper = await signUp('looper');
    const limit = readRateLimit(env, 'clip_attempts_per_user').limit;
    const outside = {
      stream_id: stream.streamId,
      title: 'Nope',
      duration_seconds: 5,
      offset_seconds: -80_000,
    };
    for (let i = 0; i < limit; i++) {
      expect((await callApi('/clips', { method: 'POST', token: looper.token, body: outside })).status).toBe(
        422,
      );
    }
    const refused = await callApi('/clips', { method: 'POST', token: looper.token, body: outside });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await readError(refused)).message).toMatch(/too many clips/i);
    // A valid request is refused too until the window passes: the allowance is per user.
    expect((await postClip(looper.token, stream)).status).toBe(429);
  });

  it('refuses clips from a user banned or timed out in the channel with 403', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const [banned, timedOut] = await signUpMany(2, 'banned');
    if (!banned || !timedOut) throw new Error('signup failed');
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO bans (channel_id, user_id, kind, created_at) VALUES (?, ?, 'ban', ?)").bind(
        stream.channel.channelId,
        banned.user.id,
        now,
      ),
      env.DB.prepare(
        "INSERT INTO bans (channel_id, user_id, kind, created_at, expires_at) VALUES (?, ?, 'timeout', ?, ?)",
      ).bind(stream.channel.channelId, timedOut.user.id, now, now + 600_000),
    ]);
    for (const user of [banned, timedOut]) {
      const refused = await postClip(user.token, stream);
      expect(refused.status).toBe(403);
      expect((await readError(refused)).code).toBe('banned');
    }
    await env.DB.prepare('DELETE FROM bans WHERE user_id = ?').bind(banned.user.id).run();
    expect((await postClip(banned.token, stream)).status).toBe(202);
  });

  it('counts one view per client network per clip, however often that network posts', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const viewer = await signUp('watcher');
    const clipId = await createClip(viewer.token, stream);
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
    const ip = '203.0.113.77';
    for (let i = 0; i < 20; i++) {
      expect((await callApi(`/clips/${clipId}/views`, { method: 'POST', ip })).status).toBe(204);
    }
    const readViews = async () =>
      z.object({ view_count: z.number() }).parse(await (await callApi(`/clips/${clipId}`)).json()).view_count;
    expect(await readViews()).toBe(1);
    expect((await callApi(`/clips/${clipId}/views`, { method: 'POST', ip: '203.0.113.78' })).status).toBe(
      204,
    );
    expect(await readViews()).toBe(2);
    expect((await callApi(`/clips/${crypto.randomUUID()}/views`, { method: 'POST', ip })).status).toBe(404);
  });
});

describe('clip settings and management', () => {
  it('lets the owner turn clipping off (403 clips_disabled) and on again', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const ownerToken = await createSession(env.DB, stream.channel.userId);
    const viewer = await signUp('viewer');
    const off = await callApi(`/channels/${stream.channel.channelId}`, {
      method: 'PATCH',
      token: ownerToken,
      body: { clips_enabled: false },
    });
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ clips_enabled: false });
    const refused = await postClip(viewer.token, stream);
    expect(refused.status).toBe(403);
    expect((await readError(refused)).code).toBe('clips_disabled');
    // Only the owner changes the setting.
    const notOwner = await callApi(`/channels/${stream.channel.channelId}`, {
      method: 'PATCH',
      token: viewer.token,
      body: { clips_enabled: true },
    });
    expect(notOwner.status).toBe(403);
    await callApi(`/channels/${stream.channel.channelId}`, {
      method: 'PATCH',
      token: ownerToken,
      body: { clips_enabled: true },
    });
    expect((await postClip(viewer.token, stream)).status).toBe(202);
  });

  it('lets the creator, the owner and a moderator retitle a clip, and no other viewer', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const ownerToken = await createSession(env.DB, stream.channel.userId);
    const [creator, moderator, stranger] = await signUpMany(3, 'titles');
    if (!creator || !moderator || !stranger) throw new Error('signup failed');
    await env.DB.prepare(
      "INSERT INTO channel_roles (channel_id, user_id, role, created_at) VALUES (?, ?, 'moderator', ?)",
    )
      .bind(stream.channel.channelId, moderator.user.id, Date.now())
      .run();
    const clipId = await createClip(creator.token, stream);
    const retitle = (token: string, title: string) =>
      callApi(`/clips/${clipId}`, { method: 'PATCH', token, body: { title } });
    expect((await retitle(stranger.token, 'Stolen')).status).toBe(403);
    for (const [token, title] of [
      [creator.token, 'By the creator'],
      [ownerToken, 'By the owner'],
      [moderator.token, 'By a moderator'],
    ] as const) {
      const res = await retitle(token, title);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: clipId, title });
    }
    expect((await retitle(creator.token, '')).status).toBe(400);
  });

  it('lets the owner delete a clip with its media; a banned moderator and a stranger cannot', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const ownerToken = await createSession(env.DB, stream.channel.userId);
    const [creator, moderator, stranger] = await signUpMany(3, 'deletes');
    if (!creator || !moderator || !stranger) throw new Error('signup failed');
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO channel_roles (channel_id, user_id, role, created_at) VALUES (?, ?, 'moderator', ?)",
      ).bind(stream.channel.channelId, moderator.user.id, now),
      env.DB.prepare("INSERT INTO bans (channel_id, user_id, kind, created_at) VALUES (?, ?, 'ban', ?)").bind(
        stream.channel.channelId,
        moderator.user.id,
        now,
      ),
    ]);
    const clipId = await createClip(creator.token, stream);
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
    expect(await listKeys(`clips/${clipId}`)).toContain(`clips/${clipId}.mp4`);

    const remove = (token: string) => callApi(`/clips/${clipId}`, { method: 'DELETE', token });
    expect((await remove(stranger.token)).status).toBe(403);
    expect((await remove(moderator.token)).status).toBe(403);
    expect((await remove(ownerToken)).status).toBe(204);
    expect((await callApi(`/clips/${clipId}`)).status).toBe(404);
    expect(await listKeys(`clips/${clipId}`)).toEqual([]);
    expect((await remove(ownerToken)).status).toBe(404);
  });

  it("lets an unbanned moderator delete a viewer's clip", async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const [creator, moderator] = await signUpMany(2, 'moddel');
    if (!creator || !moderator) throw new Error('signup failed');
    await env.DB.prepare(
      "INSERT INTO channel_roles (channel_id, user_id, role, created_at) VALUES (?, ?, 'moderator', ?)",
    )
      .bind(stream.channel.channelId, moderator.user.id, Date.now())
      .run();
    const clipId = await createClip(creator.token, stream);
    expect((await callApi(`/clips/${clipId}`, { method: 'DELETE', token: moderator.token })).status).toBe(
      204,
    );
    expect((await callApi(`/clips/${clipId}`)).status).toBe(404);
  });
});
