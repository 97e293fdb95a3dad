// Discovery: recommendations (co-following, categories watched, cold start by popularity, each
// with its reason), similar channels, and the directory's tag filter, through the real Worker and D1.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CO_FOLLOW_ROWS,
  FOLLOWER_SAMPLE,
  prepareCoFollows,
  readCoFollows,
} from '../../workers/api/lib/discovery.ts';
import { callApi, readError, signUp, type TestSession } from './api-helpers.ts';

const Reason = z.object({
  kind: z.enum(['co_follow', 'category', 'popular']),
  text: z.string(),
  channel: z.object({ id: z.string(), display_name: z.string() }).nullable(),
  category: z.object({ id: z.number(), name: z.string() }).nullable(),
});
const Recommendations = z.object({
  data: z.array(
    z.object({ stream: z.looseObject({ channel: z.object({ id: z.string() }) }), reason: Reason }),
  ),
});
const Similar = z.object({
  data: z.array(
    z.object({ channel: z.looseObject({ id: z.string(), is_live: z.boolean() }), reason: Reason }),
  ),
});

/** A live stream in `category` (slug), as the LiveStream object leaves it on the first part. */
async function goLive(
  user: TestSession,
  category: string,
  viewers: number,
  tags: string[] = [],
): Promise<string> {
  const res = await callApi('/streams/start', {
    method: 'POST',
    token: user.token,
    body: { channel_id: user.channel.id, category, tags },
  });
  expect(res.status).toBe(200);
  const { stream_id } = z.object({ stream_id: z.string() }).parse(await res.json());
  await env.DB.prepare("UPDATE streams SET status = 'live', started_at = ?, viewer_count = ? WHERE id = ?")
    .bind(Date.now(), viewers, stream_id)
    .run();
  return stream_id;
}

async function follow(user: TestSession, channelId: string): Promise<void> {
  const res = await callApi(`/channels/${channelId}/follow`, { method: 'POST', token: user.token });
  expect(res.status).toBeLessThan(300);
}

async function recommend(token?: string, limit = 24) {
  const res = await callApi(`/recommendations?limit=${limit}`, token === undefined ? {} : { token });
  expect(res.status).toBe(200);
  return Recommendations.parse(await res.json()).data;
}

describe('recommendations', () => {
  it('starts cold by popularity, then follows co-followers and leaves followed channels out', async () => {
    const star = await signUp('star');
    const peer = await signUp('peer');
    await goLive(star, 'sports', 900_001);
    await goLive(peer, 'art', 3);
    // Fans of the star also follow the peer.
    for (let i = 0; i < 3; i++) {
      const fan = await signUp('fan');
      await follow(fan, star.channel.id);
      await follow(fan, peer.channel.id);
    }
    const viewer = await signUp('viewer');
    const cold = await recommend(viewer.token);
    expect(cold[0]?.stream.channel.id).toBe(star.channel.id);
    expect(cold[0]?.reason).toMatchObject({ kind: 'popular', text: 'Popular now' });
    const signedOut = await recommend(undefined);
    expect(signedOut.every((r) => r.reason.kind === 'popular')).toBe(true);

    await follow(viewer, star.channel.id);
    const warm = await recommend(viewer.token);
    expect(warm.some((r) => r.stream.channel.id === star.channel.id)).toBe(false);
    const peerCard = warm.find((r) => r.stream.channel.id === peer.channel.id);
    expect(peerCard?.reason).toMatchObject({
      kind: 'co_follow',
      text: `Because you follow ${star.channel.display_name ?? star.channel.name}`,
      channel: { id: star.channel.id },
    });
    // Co-following comes before popularity.
    expect(warm[0]?.reason.kind).toBe('co_follow');
  });

  it('recommends popular streams of the categories a viewer watched (counted from the player presence)', async () => {
    const streamer = await signUp('musician');
    const other = await signUp('musician2');
    await goLive(streamer, 'music', 5);
    await goLive(other, 'music', 4);
    const viewer = await signUp('listener');
    const presence = await callApi(`/channels/${streamer.channel.id}/presence`, {
      method: 'POST',
      token: viewer.token,
      body: { viewer_id: crypto.randomUUID().replaceAll('-', '') },
    });
    expect(presence.status).toBe(200);
    // A second heartbeat inside the hour changes nothing: one row, counted once.
    await callApi(`/channels/${streamer.channel.id}/presence`, {
      method: 'POST',
      token: viewer.token,
      body: { viewer_id: crypto.randomUUID().replaceAll('-', '') },
    });
    const rows = await env.DB.prepare('SELECT category_id, watches FROM category_views WHERE user_id = ?')
      .bind(viewer.user.id)
      .all();
    expect(rows.results).toEqual([{ category_id: 2, watches: 1 }]);

    const recs = await recommend(viewer.token);
    const musicCards = recs.filter((r) => r.reason.kind === 'category');
    expect(musicCards.map((r) => r.stream.channel.id)).toEqual(
      expect.arrayContaining([streamer.channel.id, other.channel.id]),
    );
    expect(musicCards[0]?.reason).toMatchObject({ text: 'Popular in Music', category: { id: 2 } });
  });

  it('bounds the limit and never recommends the viewer their own channel', async () => {
    const self = await signUp('selfie');
    await goLive(self, 'irl', 2_000_000);
    const recs = await recommend(self.token);
    expect(recs.some((r) => r.stream.channel.id === self.channel.id)).toBe(false);
    expect(recs.length).toBeLessThanOrEqual(24);
    const tooMany = await callApi('/recommendations?limit=25');
    expect(tooMany.status).toBe(400);
    expect((await readError(tooMany)).code).toBe('validation_failed');
  });
});

describe('similar channels', () => {
  it('lists channels its followers also follow and live channels of its category, live first', async () => {
    const base = await signUp('base');
    const coFollowed = await signUp('cof');
    const sameCategory = await signUp('samecat');
    await goLive(base, 'minecraft', 10);
    await goLive(sameCategory, 'minecraft', 7);
    const fan = await signUp('fan');
    await follow(fan, base.channel.id);
    await follow(fan, coFollowed.channel.id);
    const res = await callApi(`/channels/${base.channel.name}/similar`);
    expect(res.status).toBe(200);
    const data = Similar.parse(await res.json()).data;
    const ids = data.map((d) => d.channel.id);
    expect(ids).toEqual(expect.arrayContaining([coFollowed.channel.id, sameCategory.channel.id]));
    expect(ids).not.toContain(base.channel.id);
    expect(data.find((d) => d.channel.id === coFollowed.channel.id)?.reason.kind).toBe('co_follow');
    expect(data.find((d) => d.channel.id === sameCategory.channel.id)?.reason.text).toBe(
      'Also live in Minecraft',
    );
    // Live ones first.
    const firstOffline = data.findIndex((d) => !d.channel.is_live);
    if (firstOffline >= 0) expect(data.slice(firstOffline).every((d) => !d.channel.is_live)).toBe(true);
  });

  it('answers 404 for an unknown channel and 400 for a limit over 24', async () => {
    const unknown = await callApi('/channels/no-such-channel-xyz/similar');
    expect(unknown.status).toBe(404);
    expect((await readError(unknown)).code).toBe('not_found');
    const base = await signUp('lim');
    expect((await callApi(`/channels/${base.channel.id}/similar?limit=100`)).status).toBe(400);
  });
});

describe('tag filter', () => {
  it('filters live streams by one tag, case-insensitively, and refuses malformed tags', async () => {
    const tagged = await signUp('tagged');
    const untagged = await signUp('untagged');
    const tag = `speedrun${crypto.randomUUID().slice(0, 6)}`;
    await goLive(tagged, 'fortnite', 1, [tag, 'English']);
    await goLive(untagged, 'fortnite', 1, ['English']);
    const res = await callApi(`/streams?tag=${tag.toUpperCase()}`);
    expect(res.status).toBe(200);
    const page = z
      .object({ data: z.array(z.looseObject({ channel: z.object({ id: z.string() }) })) })
      .parse(await res.json());
    expect(page.data.map((s) => s.channel.id)).toEqual([tagged.channel.id]);

    for (const bad of ['a'.repeat(26), 'ev%0Ail', 'zero%E2%80%8Bwidth', '%20%20']) {
      const refused = await callApi(`/streams?tag=${bad}`);
      expect(refused.status).toBe(400);
      expect((await readError(refused)).code).toBe('validation_failed');
    }
  });
});

describe('query cost', () => {
  it('reads a bounded number of rows for co-following however many followers a channel has', async () => {
    const db = env.DB;
    const now = Date.now();
    const channelIds: string[] = [];
    const owners = Array.from({ length: 6 }, () => crypto.randomUUID());
    const statements: D1PreparedStatement[] = [];
    for (const owner of owners) {
      const channelId = crypto.randomUUID();
      channelIds.push(channelId);
      statements.push(
        db
          .prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)')
          .bind(owner, `o${owner.slice(0, 12)}`, 'x', now),
        db
          .prepare(
            'INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          )
          .bind(channelId, owner, `c${channelId.slice(0, 12)}`, 'c', crypto.randomUUID(), now),
      );
    }
    await db.batch(statements);
    // 600 followers of the first channel, each following all six: 3,600 follows.
    const followers = Array.from({ length: 600 }, () => crypto.randomUUID());
    for (let i = 0; i < followers.length; i += 50) {
      const chunk = followers.slice(i, i + 50);
      await db.batch(
        chunk.flatMap((user) => [
          db
            .prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)')
            .bind(user, `f${user.slice(0, 12)}`, 'x', now),
          ...channelIds.map((channelId) =>
            db
              .prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
              .bind(user, channelId, now),
          ),
        ]),
      );
    }
    const [result] = await db.batch([prepareCoFollows(db, channelIds[0] ?? '', null)]);
    const rows = readCoFollows(result);
    expect(rows.map((r) => r.channel_id).sort()).toEqual(channelIds.slice(1).sort());
    // Each co-followed channel is counted over the sample, not over all 600 followers.
    expect(Math.max(...rows.map((r) => r.n))).toBeLessThanOrEqual(FOLLOWER_SAMPLE);
    const rowsRead = result?.meta.rows_read ?? Number.POSITIVE_INFINITY;
    console.log(`co-follow query: ${rowsRead} rows read for a channel with 600 followers (3,600 follows)`);
    expect(rowsRead).toBeLessThan(FOLLOWER_SAMPLE + CO_FOLLOW_ROWS);
    expect(rowsRead).toBeLessThan(3600);
  });
});
