import { env, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  authorizePublish,
  createTestChannel,
  getPlaylist,
  INGEST_AUTH,
  ORIGIN,
  postIngest,
  publishSegment,
  putInit,
  putPart,
  runInTestLiveStream,
  startTestStream,
} from './origin-fixtures.ts';

async function readStreamRow(streamId: string) {
  return env.DB.prepare('SELECT * FROM streams WHERE id = ?').bind(streamId).first<Record<string, unknown>>();
}

describe('internal ingest authorization', () => {
  it('refuses every internal call without the ingest secret', async () => {
    const noAuth = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_key: 'live_x' }),
    });
    expect(noAuth.status).toBe(401);
    const wrong = await SELF.fetch(`${ORIGIN}/internal/ingest/c/${crypto.randomUUID()}/heartbeat`, {
      method: 'POST',
      headers: { Authorization: 'Bearer not-the-secret' },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('rejects a publish with an unknown key before anything is created', async () => {
    const before = await env.DB.prepare('SELECT count(*) AS n FROM streams').first<{ n: number }>();
    const res = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
      method: 'POST',
      headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_key: 'live_not-a-real-key' }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'bad_stream_key' } });
    const after = await env.DB.prepare('SELECT count(*) AS n FROM streams').first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it('starts a pending stream from the channel defaults that is not live before its first part', async () => {
    const channel = await createTestChannel({ title: 'Lo-fi beats', tier: 'affiliate' });
    const publish = await authorizePublish(channel.streamKey);
    expect(publish).toMatchObject({
      channel_id: channel.channelId,
      tier: 'affiliate',
      continued: false,
      next_msn: 0,
    });
    const row = await readStreamRow(publish.stream_id);
    expect(row).toMatchObject({
      status: 'pending',
      title: 'Lo-fi beats',
      category_id: 2,
      language: 'de',
      started_at: null,
    });
    expect(JSON.parse(String(row?.tags))).toEqual(['lofi', 'chill']);
    const summary = await env.LIVE_STREAM.getByName(channel.channelId).getSummary();
    expect(summary).toMatchObject({ stream_id: publish.stream_id, status: 'idle' });
  });

  it('reuses the pending stream that POST /streams/start created', async () => {
    const channel = await createTestChannel();
    const pendingId = crypto.randomUUID();
    await env.DB.prepare(
      `INSERT INTO streams (id, channel_id, title, status, created_at) VALUES (?, ?, 'Announced title', 'pending', ?)`,
    )
      .bind(pendingId, channel.channelId, Date.now())
      .run();
    const publish = await authorizePublish(channel.streamKey);
    expect(publish.stream_id).toBe(pendingId);
  });

  it('refuses a second publisher while the first is active', async () => {
    const channel = await createTestChannel();
    await authorizePublish(channel.streamKey);
    const res = await SELF.fetch(`${ORIGIN}/internal/ingest/authorize`, {
      method: 'POST',
      headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_key: channel.streamKey }),
    });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'already_publishing' } });
  });
});

describe('internal ingest uploads', () => {
  it('answers 409 to uploads that name a publish id other than the current publisher', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    const stranger = { ...publish, publish_id: crypto.randomUUID() };
    expect((await putInit(stranger, 'source')).status).toBe(409);
    expect((await putPart(stranger, 'source', 0, 0)).status).toBe(409);
    expect((await postIngest(stranger, 'heartbeat')).status).toBe(409);
    expect((await postIngest(publish, 'heartbeat')).status).toBe(204);
  });

  it('rejects an upload whose X-Ingest-Meta does not match its path', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    const res = await SELF.fetch(
      `${ORIGIN}/internal/ingest/${channel.channelId}/${publish.publish_id}/part/source/0/1`,
      {
        method: 'PUT',
        headers: {
          ...INGEST_AUTH,
          'X-Ingest-Meta': JSON.stringify({
            kind: 'part',
            rendition: 'source',
            msn: 0,
            part: 2,
            duration: 0.2,
            independent: false,
            pdt: 1,
          }),
        },
        body: new Uint8Array(8),
      },
    );
    expect(res.status).toBe(400);
    const missing = await SELF.fetch(
      `${ORIGIN}/internal/ingest/${channel.channelId}/${publish.publish_id}/init/source`,
      {
        method: 'PUT',
        headers: INGEST_AUTH,
        body: new Uint8Array(8),
      },
    );
    expect(missing.status).toBe(400);
  });

  it('writes a part to R2 under the parts prefix and marks the stream live on the first part', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    expect((await putInit(publish, 'source')).status).toBe(204);
    expect((await putInit(publish, 'audio')).status).toBe(204);
    expect(await env.MEDIA.head(`streams/${publish.stream_id}/source/init-1.mp4`)).not.toBeNull();
    expect((await putPart(publish, 'source', 0, 0)).status).toBe(204);
    expect(await env.MEDIA.head(`parts/${publish.stream_id}/source/0.0.m4s`)).not.toBeNull();
    const row = await readStreamRow(publish.stream_id);
    expect(row?.status).toBe('live');
    expect(typeof row?.started_at).toBe('number');
    expect(JSON.parse(String(row?.renditions))).toEqual(['source', 'audio']);
    const summary = await env.LIVE_STREAM.getByName(channel.channelId).getSummary();
    expect(summary.status).toBe('live');
    expect(summary.last_part_at).not.toBeNull();
  });

  it('announces stream.started on the stream-events queue, which notifies followers', async () => {
    const channel = await createTestChannel();
    const followerId = crypto.randomUUID();
    await env.DB.batch([
      env.DB.prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').bind(
        followerId,
        `f${followerId.slice(0, 8)}`,
        'x',
        Date.now(),
      ),
      env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)').bind(
        followerId,
        channel.channelId,
        Date.now(),
      ),
    ]);
    const publish = await authorizePublish(channel.streamKey);
    await putInit(publish, 'source');
    await putPart(publish, 'source', 0, 0);
    const query = env.DB.prepare(
      'SELECT count(*) AS n FROM notifications WHERE user_id = ? AND stream_id = ?',
    ).bind(followerId, publish.stream_id);
    // The consumer runs on the queue's own schedule (max_batch_timeout 1 s): wait for it, bounded.
    let notified = 0;
    for (let attempt = 0; attempt < 50 && notified === 0; attempt++) {
      notified = (await query.first<{ n: number }>())?.n ?? 0;
      if (notified === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(notified).toBe(1);
  });

  it('stores the thumbnail in R2, records its public URL and serves it as JPEG', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    const res = await SELF.fetch(
      `${ORIGIN}/internal/ingest/${channel.channelId}/${publish.publish_id}/thumbnail`,
      {
        method: 'PUT',
        headers: { ...INGEST_AUTH, 'Content-Type': 'image/jpeg' },
        body: jpeg,
      },
    );
    expect(res.status).toBe(204);
    const path = `/live/${channel.channelId}/${publish.stream_id}/thumbnail.jpg`;
    expect((await readStreamRow(publish.stream_id))?.thumbnail_url).toBe(path);
    const image = await SELF.fetch(`${ORIGIN}${path}`);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(jpeg);
  });
});

describe('publisher lifecycle', () => {
  it("hands a continued publish the source's keyframe interval its previous publish measured, and a new stream none", async () => {
    const channel = await createTestChannel();
    const first = await startTestStream(channel, ['source'], 1);
    expect(first.source_keyframe_interval_ms ?? null).toBeNull();
    const health = {
      bytes_in: 1_000_000,
      source_fps: 30,
      encode_fps: 30,
      keyframe_interval_ms: 2000,
      audio_present: true,
      encode_speed: 1,
    };
    expect((await postIngest(first, 'heartbeat', { health })).status).toBe(204);
    expect((await postIngest(first, 'end', { reason: 'publisher_closed' })).status).toBe(204);
    const second = await authorizePublish(channel.streamKey);
    expect(second).toMatchObject({
      stream_id: first.stream_id,
      continued: true,
      source_keyframe_interval_ms: 2000,
    });
  });

  it('continues the same stream after a reconnect inside the window, with a discontinuity', async () => {
    const channel = await createTestChannel();
    const first = await startTestStream(channel, ['source'], 2);
    // A half-uploaded segment: the drop seals it from its parts.
    await putPart(first, 'source', 2, 0);
    await putPart(first, 'source', 2, 1);
    expect((await postIngest(first, 'end', { reason: 'publisher_closed' })).status).toBe(204);
    expect((await env.LIVE_STREAM.getByName(channel.channelId).getSummary()).status).toBe('reconnecting');
    expect(await env.MEDIA.head(`streams/${first.stream_id}/source/2.m4s`)).not.toBeNull();

    const second = await authorizePublish(channel.streamKey);
    expect(second).toMatchObject({ stream_id: first.stream_id, continued: true, next_msn: 3 });
    expect(second.publish_id).not.toBe(first.publish_id);
    expect((await putPart(first, 'source', 3, 0)).status).toBe(409);
    expect((await putInit(second, 'source')).status).toBe(204);
    await publishSegment(second, 'source', 3);

    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const lines = playlist.split('\n');
    const sealed = lines.indexOf(`${first.stream_id}/source/2.m4s`);
    expect(lines[sealed - 1]).toBe('#EXTINF:0.40000,');
    const resumed = lines.indexOf(`${first.stream_id}/source/3.m4s`);
    const between = lines.slice(sealed + 1, resumed);
    expect(between).toContain('#EXT-X-DISCONTINUITY');
    expect(between).toContain(`#EXT-X-MAP:URI="${first.stream_id}/source/init-2.mp4"`);
    expect(between.some((line) => line.startsWith('#EXT-X-PROGRAM-DATE-TIME:'))).toBe(true);
    expect((await env.LIVE_STREAM.getByName(channel.channelId).getSummary()).discontinuities).toBe(1);
  });

  it('ends the stream with ENDLIST once the reconnect window passes without a new publish', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source', 'audio'], 2);
    expect((await postIngest(publish, 'end', { reason: 'publisher_lost' })).status).toBe(204);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    for (const name of ['source.m3u8', 'audio.m3u8']) {
      const body = await (await getPlaylist(channel.channelId, name)).text();
      expect(body.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true);
      expect(body).not.toContain('#EXT-X-PRELOAD-HINT');
    }
    const row = await readStreamRow(publish.stream_id);
    expect(row).toMatchObject({ status: 'ended' });
    expect(typeof row?.ended_at).toBe('number');
    expect(typeof row?.duration_seconds).toBe('number');
    expect((await stub.getSummary()).status).toBe('ended');
    // A new publish after the end is a new stream.
    const next = await authorizePublish(channel.streamKey);
    expect(next.continued).toBe(false);
    expect(next.stream_id).not.toBe(publish.stream_id);
  });

  it('treats a publisher that stops uploading and heart-beating as dropped', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInTestLiveStream(stub, (instance) => {
      instance.setTimings({ publisherTimeoutMs: 0 });
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.getSummary()).status).toBe('reconnecting');
    expect((await postIngest(publish, 'heartbeat')).status).toBe(409);
  });

  it('cuts the publisher off when its key is revoked, and its next upload gets 409', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    expect(await stub.revokePublisher()).toBe(true);
    expect((await putPart(publish, 'source', 1, 0)).status).toBe(409);
    expect((await stub.getSummary()).status).toBe('reconnecting');
    expect(await stub.revokePublisher()).toBe(false);
  });

  it('keeps the segment index of every rendition for the VOD', async () => {
    const channel = await createTestChannel();
    await startTestStream(channel, ['source', 'audio'], 3);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    const index = await stub.getSegmentIndex('audio');
    expect(index.map((s) => s.msn)).toEqual([0, 1, 2]);
    expect(index[0]).toMatchObject({ duration: 2, discontinuity: false, init: 1 });
    expect((await stub.getRenditions()).map((r) => r.name).sort()).toEqual(['audio', 'source']);
  });
});
