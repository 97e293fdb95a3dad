import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callApi, readError, signUp, type TestSession } from './api-helpers.ts';

const StartResponse = z.object({ stream_id: z.string(), stream_key: z.string(), ingest_url: z.string() });
const Page = z.object({
  data: z.array(z.looseObject({ stream_id: z.string(), viewer_count: z.number() })),
  cursor: z.string().nullable(),
});

async function startStream(user: TestSession, body: Record<string, unknown> = {}): Promise<string> {
  const res = await callApi('/streams/start', {
    method: 'POST',
    token: user.token,
    body: { channel_id: user.channel.id, ...body },
  });
  expect(res.status).toBe(200);
  return StartResponse.parse(await res.json()).stream_id;
}

/** What the LiveStream DO does on the first part; the API only reads the result. */
async function markLive(streamId: string, viewers: number, startedAt = Date.now()): Promise<void> {
  await env.DB.prepare("UPDATE streams SET status = 'live', started_at = ?, viewer_count = ? WHERE id = ?")
    .bind(startedAt, viewers, streamId)
    .run();
}

describe('streams', () => {
  it('starts a pending stream with the seed response shape and updates the channel defaults', async () => {
    const user = await signUp('start');
    const res = await callApi('/streams/start', {
      method: 'POST',
      token: user.token,
      body: {
        channel_id: user.channel.id,
        title: 'Friday Night',
        category: 'Fortnite',
        tags: ['English'],
        language: 'en',
      },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      ingest_url: env.RTMP_INGEST_URL,
      secure_ingest_url: env.RTMPS_INGEST_URL,
      // WHIP (docs/webrtc.md): the same stream key as a bearer token, for browsers and OBS 30+.
      whip_url: env.WHIP_INGEST_URL,
      recommended_settings: {
        resolution: '1920x1080',
        fps: 60,
        bitrate: '6000 kbps',
        keyframe_interval: 2,
        encoder: 'x264',
        rate_control: 'CBR',
      },
    });
    const { stream_id, stream_key } = StartResponse.parse(body);
    const keyRes = await callApi(`/channels/${user.channel.id}/stream-key`, { token: user.token });
    expect(await keyRes.json()).toMatchObject({ stream_key });
    const row = await env.DB.prepare('SELECT status, title, category_id FROM streams WHERE id = ?')
      .bind(stream_id)
      .first();
    expect(row).toEqual({ status: 'pending', title: 'Friday Night', category_id: 4 });
    expect(await (await callApi(`/channels/${user.channel.id}`)).json()).toMatchObject({
      title: 'Friday Night',
      tags: ['English'],
    });
  });

  it('returns the same stream when started twice instead of creating another', async () => {
    const user = await signUp('twice');
    const first = await startStream(user);
    const second = await startStream(user, { title: 'renamed' });
    expect(second).toBe(first);
    const count = await env.DB.prepare('SELECT count(*) AS n FROM streams WHERE channel_id = ?')
      .bind(user.channel.id)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it("refuses an unknown category with 422 and another user's channel with 403", async () => {
    const user = await signUp('cat');
    const other = await signUp('other');
    const unknown = await callApi('/streams/start', {
      method: 'POST',
      token: user.token,
      body: { channel_id: user.channel.id, category: 'nope' },
    });
    expect(unknown.status).toBe(422);
    const foreign = await callApi('/streams/start', {
      method: 'POST',
      token: other.token,
      body: { channel_id: user.channel.id },
    });
    expect(foreign.status).toBe(403);
    const missing = await callApi('/streams/start', { method: 'POST', token: user.token, body: {} });
    expect(missing.status).toBe(400);
  });

  it('serves the live stream with manifest, chat and WHEP URLs, 404 when not live', async () => {
    const user = await signUp('live');
    const streamId = await startStream(user, { title: 'Live now', category: 'music' });
    expect((await callApi(`/streams/${user.channel.id}/live`)).status).toBe(404);
    await markLive(streamId, 42, Date.UTC(2025, 2, 14, 20));
    const res = await callApi(`/streams/${user.channel.id}/live`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      stream_id: streamId,
      channel: { id: user.channel.id, name: user.channel.name },
      title: 'Live now',
      category: { slug: 'music' },
      viewer_count: 42,
      started_at: '2025-03-14T20:00:00.000Z',
      manifest_url: `http://localhost/live/${user.channel.id}/master.m3u8`,
      chat_websocket: `ws://localhost/ws/${user.channel.id}`,
      // WHEP (docs/webrtc.md) on the WHIP port of the ingest: real-time playback beside LL-HLS.
      whep_url: new URL(`/whep/${user.channel.id}`, env.WHIP_INGEST_URL).toString(),
    });
    expect(await (await callApi(`/channels/${user.channel.id}`)).json()).toMatchObject({ is_live: true });
  });

  it('pages live streams by viewers with an opaque cursor and filters by category', async () => {
    const tag = `t${crypto.randomUUID().slice(0, 8)}`;
    const viewers = [500, 300, 300, 100, 50];
    const ids: string[] = [];
    for (const count of viewers) {
      const user = await signUp('browse');
      const id = await startStream(user, { category: 'art', tags: [tag] });
      await markLive(id, count);
      ids.push(id);
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page++) {
      const query: string = `/streams?tag=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const body = Page.parse(await (await callApi(query)).json());
      seen.push(...body.data.map((item) => item.viewer_count));
      cursor = body.cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(viewers);
    const other = Page.parse(await (await callApi(`/streams?tag=${tag}&category=music`)).json());
    expect(other.data).toEqual([]);
    const art = Page.parse(
      await (await callApi(`/streams?tag=${tag}&category=art&sort=started_desc`)).json(),
    );
    expect(art.data).toHaveLength(5);
    expect((await callApi('/streams?limit=0')).status).toBe(400);
    expect((await callApi('/streams?cursor=garbage')).status).toBe(400);
  });

  it('edits a live stream, but not an ended one (422)', async () => {
    const user = await signUp('patch');
    const streamId = await startStream(user);
    await markLive(streamId, 1);
    const ok = await callApi(`/streams/${streamId}`, {
      method: 'PATCH',
      token: user.token,
      body: { title: 'New title', category: 3 },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ title: 'New title', status: 'live', category: { id: 3 } });
    const other = await signUp('notmine');
    expect(
      (await callApi(`/streams/${streamId}`, { method: 'PATCH', token: other.token, body: { title: 'x' } }))
        .status,
    ).toBe(403);
    await env.DB.prepare("UPDATE streams SET status = 'ended' WHERE id = ?").bind(streamId).run();
    const ended = await callApi(`/streams/${streamId}`, {
      method: 'PATCH',
      token: user.token,
      body: { title: 'late' },
    });
    expect(ended.status).toBe(422);
    expect((await readError(ended)).code).toBe('unprocessable');
    expect(
      (await callApi('/streams/nope', { method: 'PATCH', token: user.token, body: { title: 'x' } })).status,
    ).toBe(404);
  });
});

describe('categories', () => {
  it('lists categories with live totals, busiest first, and serves one by slug', async () => {
    const user = await signUp('irl');
    const streamId = await startStream(user, { category: 'irl' });
    await markLive(streamId, 100_000);
    const list = z
      .object({
        data: z.array(z.object({ slug: z.string(), live_viewers: z.number(), live_streams: z.number() })),
      })
      .parse(await (await callApi('/categories')).json());
    expect(list.data[0]?.slug).toBe('irl');
    expect(list.data.map((c) => c.live_viewers)).toEqual(
      [...list.data.map((c) => c.live_viewers)].sort((a, b) => b - a),
    );
    const one = await callApi('/categories/irl');
    expect(await one.json()).toMatchObject({ slug: 'irl', name: 'IRL', live_streams: 1 });
    expect((await callApi('/categories/nope')).status).toBe(404);
  });
});

describe('search', () => {
  it('finds channels by name prefix and treats FTS syntax in the query as plain text', async () => {
    const user = await signUp('zebra');
    const res = await callApi(`/search?q=${encodeURIComponent(user.channel.name.slice(0, 8))}`);
    expect(res.status).toBe(200);
    const body = z
      .object({ channels: z.array(z.object({ id: z.string() })), streams: z.array(z.unknown()) })
      .parse(await res.json());
    expect(body.channels.map((c) => c.id)).toContain(user.channel.id);
    for (const q of ['"unbalanced', 'name:* OR', 'NEAR(a b)', '***']) {
      expect((await callApi(`/search?q=${encodeURIComponent(q)}`)).status).toBe(200);
    }
    expect((await callApi('/search')).status).toBe(400);
  });

  it('finds a channel by its new display name after PATCH', async () => {
    const user = await signUp('rename');
    const word = `Quokka${crypto.randomUUID().slice(0, 6)}`;
    await callApi(`/channels/${user.channel.id}`, {
      method: 'PATCH',
      token: user.token,
      body: { display_name: word },
    });
    const body = z
      .object({ channels: z.array(z.object({ id: z.string() })) })
      .parse(await (await callApi(`/search?q=${word.toLowerCase()}`)).json());
    expect(body.channels.map((c) => c.id)).toEqual([user.channel.id]);
  });
});

describe('notifications', () => {
  it('pages notifications newest first and marks them read', async () => {
    const user = await signUp('notified');
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      await env.DB.prepare(
        "INSERT INTO notifications (id, user_id, kind, message, created_at) VALUES (?, ?, 'test', ?, ?)",
      )
        .bind(crypto.randomUUID(), user.user.id, `n${i}`, now + i)
        .run();
    }
    const Notes = z.object({
      data: z.array(z.object({ message: z.string(), read_at: z.string().nullable() })),
      cursor: z.string().nullable(),
      unread: z.number(),
    });
    const first = Notes.parse(await (await callApi('/notifications?limit=2', { token: user.token })).json());
    expect(first.data.map((n) => n.message)).toEqual(['n2', 'n1']);
    expect(first.unread).toBe(3);
    const second = Notes.parse(
      await (await callApi(`/notifications?limit=2&cursor=${first.cursor}`, { token: user.token })).json(),
    );
    expect(second.data.map((n) => n.message)).toEqual(['n0']);
    expect(second.cursor).toBeNull();
    const read = await callApi('/notifications/read', { method: 'POST', token: user.token, body: {} });
    expect(await read.json()).toEqual({ updated: 3 });
    expect(Notes.parse(await (await callApi('/notifications', { token: user.token })).json()).unread).toBe(0);
    expect((await callApi('/notifications')).status).toBe(401);
  });
});
