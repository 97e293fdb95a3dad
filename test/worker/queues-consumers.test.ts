import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent, type PlatformEvent } from '../../protocol/events.ts';
import { consumeQueueBatch } from '../../workers/queues/index.ts';
import { callApi, signUp } from './api-helpers.ts';

let messageCounter = 0;

async function deliver(queue: string, bodies: unknown[], attempts = 1) {
  const messages = bodies.map((body) => {
    messageCounter += 1;
    return { id: `msg-${messageCounter}-${crypto.randomUUID()}`, timestamp: Date.now(), attempts, body };
  });
  const batch = createMessageBatch(queue, messages);
  const ctx = createExecutionContext();
  await consumeQueueBatch(batch, env);
  return { result: await getQueueResult(batch, ctx), ids: messages.map((m) => m.id) };
}

async function countNotifications(streamId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM notifications WHERE stream_id = ?')
    .bind(streamId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe('stream-events consumer', () => {
  it('notifies each follower once when stream.started is delivered twice', async () => {
    const streamer = await signUp('notify');
    const fans = [await signUp('fan1'), await signUp('fan2')];
    for (const fan of fans) {
      await callApi(`/channels/${streamer.channel.id}/follow`, { method: 'POST', token: fan.token });
    }
    const streamId = crypto.randomUUID();
    await env.DB.prepare(
      "INSERT INTO streams (id, channel_id, title, status, created_at) VALUES (?, ?, 'Speedrun', 'live', ?)",
    )
      .bind(streamId, streamer.channel.id, Date.now())
      .run();
    const event = createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id });
    const first = await deliver('stream-events', [event]);
    expect(first.result.explicitAcks).toEqual(first.ids);
    const second = await deliver('stream-events', [event]);
    expect(second.result.explicitAcks).toEqual(second.ids);
    expect(await countNotifications(streamId)).toBe(2);
    const note = await env.DB.prepare('SELECT message FROM notifications WHERE stream_id = ? AND user_id = ?')
      .bind(streamId, fans[0]?.user.id)
      .first<{ message: string }>();
    expect(note?.message).toBe(`${streamer.channel.name} went live: Speedrun`);

    const search = await callApi('/search?q=speedrun');
    expect(await search.json()).toMatchObject({ streams: [{ stream_id: streamId }] });
  });

  it('recomputes follower_count from follow events', async () => {
    const streamer = await signUp('counted');
    const fan = await signUp('counter');
    await env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
      .bind(fan.user.id, streamer.channel.id, Date.now())
      .run();
    await deliver('stream-events', [
      createEvent('channel.followed', { channel_id: streamer.channel.id, user_id: fan.user.id }),
    ]);
    const row = await env.DB.prepare('SELECT follower_count FROM channels WHERE id = ?')
      .bind(streamer.channel.id)
      .first<{ follower_count: number }>();
    expect(row?.follower_count).toBe(1);
  });

  it('acks an unparseable message instead of retrying it', async () => {
    const { result, ids } = await deliver('stream-events', [
      { type: 'stream.started', id: 'not-a-uuid' },
      'garbage',
    ]);
    expect(result.explicitAcks).toEqual(ids);
    expect(result.retryMessages).toEqual([]);
  });
});

describe('viewer-events consumer', () => {
  it('sets the live viewer count and keeps the peak', async () => {
    const streamer = await signUp('viewers');
    const streamId = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO streams (id, channel_id, status, created_at) VALUES (?, ?, 'live', ?)")
      .bind(streamId, streamer.channel.id, Date.now())
      .run();
    const counts = [120, 80];
    for (const viewers of counts) {
      const event = createEvent('viewer.count', {
        channel_id: streamer.channel.id,
        stream_id: streamId,
        viewers,
        unique_viewers: 150,
      });
      await deliver('viewer-events', [event]);
    }
    const row = await env.DB.prepare(
      'SELECT viewer_count, peak_viewers, unique_viewers FROM streams WHERE id = ?',
    )
      .bind(streamId)
      .first();
    expect(row).toEqual({ viewer_count: 80, peak_viewers: 120, unique_viewers: 150 });
  });
});

describe('viewer-events consumer, order and dedupe', () => {
  it('keeps the newer count when an older one arrives late, and writes no dedupe rows', async () => {
    const streamer = await signUp('latecount');
    const streamId = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO streams (id, channel_id, status, created_at) VALUES (?, ?, 'live', ?)")
      .bind(streamId, streamer.channel.id, Date.now())
      .run();
    const measure = (viewers: number, at: number) =>
      createEvent(
        'viewer.count',
        { channel_id: streamer.channel.id, stream_id: streamId, viewers, unique_viewers: viewers + 10 },
        at,
      );
    const now = Date.now();
    const newer = measure(40, now);
    const older = measure(300, now - 10_000);
    const { result, ids } = await deliver('viewer-events', [newer, older, newer]);
    expect(result.explicitAcks).toEqual(ids);
    const row = await env.DB.prepare(
      'SELECT viewer_count, viewer_count_at, peak_viewers, unique_viewers FROM streams WHERE id = ?',
    )
      .bind(streamId)
      .first();
    // The late count is history: it raises the peak but is not the current count.
    expect(row).toEqual({ viewer_count: 40, viewer_count_at: now, peak_viewers: 300, unique_viewers: 310 });
    const dedupe = await env.DB.prepare('SELECT count(*) AS n FROM processed_events WHERE event_id IN (?, ?)')
      .bind(newer.id, older.id)
      .first<{ n: number }>();
    expect(dedupe?.n).toBe(0);
  });
});

describe('moderation-events consumer', () => {
  it('mirrors a timeout and an unban into the bans table', async () => {
    const streamer = await signUp('modchan');
    const troll = await signUp('troll');
    const expiresAt = Date.now() + 600_000;
    const ban: PlatformEvent = createEvent('moderation.ban', {
      channel_id: streamer.channel.id,
      user_id: troll.user.id,
      moderator_id: streamer.user.id,
      reason: 'spam',
      expires_at: expiresAt,
    });
    await deliver('moderation-events', [ban]);
    const row = await env.DB.prepare(
      'SELECT kind, reason, expires_at FROM bans WHERE channel_id = ? AND user_id = ?',
    )
      .bind(streamer.channel.id, troll.user.id)
      .first();
    expect(row).toEqual({ kind: 'timeout', reason: 'spam', expires_at: expiresAt });
    await deliver('moderation-events', [
      createEvent('moderation.unban', { channel_id: streamer.channel.id, user_id: troll.user.id }),
    ]);
    const gone = await env.DB.prepare('SELECT 1 FROM bans WHERE channel_id = ? AND user_id = ?')
      .bind(streamer.channel.id, troll.user.id)
      .first();
    expect(gone).toBeNull();
  });

  it('keeps a user unbanned when the unban is delivered before the older ban it lifted', async () => {
    const streamer = await signUp('reorder');
    const troll = await signUp('reordered');
    const ids = { channel_id: streamer.channel.id, user_id: troll.user.id };
    const now = Date.now();
    const ban = createEvent(
      'moderation.ban',
      { ...ids, moderator_id: streamer.user.id, reason: 'spam', expires_at: null },
      now - 2000,
    );
    const unban = createEvent('moderation.unban', ids, now - 1000);
    await deliver('moderation-events', [unban]);
    // The ban's first delivery failed and its retry comes after the unban.
    const late = await deliver('moderation-events', [ban], 2);
    expect(late.result.explicitAcks).toEqual(late.ids);
    const findBan = () =>
      env.DB.prepare('SELECT kind, created_at FROM bans WHERE channel_id = ? AND user_id = ?')
        .bind(ids.channel_id, ids.user_id)
        .first();
    expect(await findBan()).toBeNull();

    // A ban issued after the unban applies, and an older unban delivered late does not lift it.
    const again = createEvent(
      'moderation.ban',
      { ...ids, moderator_id: null, reason: 'again', expires_at: null },
      now,
    );
    await deliver('moderation-events', [again]);
    await deliver('moderation-events', [createEvent('moderation.unban', ids, now - 500)]);
    expect(await findBan()).toEqual({ kind: 'ban', created_at: now });
  });

  it('retries a message whose effect fails, and records nothing as processed', async () => {
    const streamer = await signUp('fkfail');
    // The user does not exist, so the bans foreign key rejects the write.
    const event = createEvent('moderation.ban', {
      channel_id: streamer.channel.id,
      user_id: crypto.randomUUID(),
      moderator_id: null,
      reason: '',
      expires_at: null,
    });
    const { result, ids } = await deliver('moderation-events', [event]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(ids);
    expect(result.explicitAcks).toEqual([]);
    const processed = await env.DB.prepare('SELECT 1 FROM processed_events WHERE event_id = ?')
      .bind(event.id)
      .first();
    expect(processed).toBeNull();
  });
});

describe('dead-letter queues', () => {
  it('stores dead letters once and acks them', async () => {
    const body = { type: 'stream.started', broken: true };
    const batch = createMessageBatch('stream-events-dlq', [
      { id: `dlq-${crypto.randomUUID()}`, timestamp: Date.now(), attempts: 4, body },
    ]);
    for (let i = 0; i < 2; i++) await consumeQueueBatch(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.ackAll).toBe(true);
    const rows = await env.DB.prepare(
      "SELECT queue, body FROM dead_letters WHERE queue = 'stream-events-dlq'",
    ).all();
    expect(rows.results).toEqual([{ queue: 'stream-events-dlq', body: JSON.stringify(body) }]);
  });

  it('acks a clip request for a clip that does not exist and records it as processed', async () => {
    const event = createEvent('clip.requested', { clip_id: crypto.randomUUID() });
    const { result, ids } = await deliver('clip-requests', [event]);
    expect(result.explicitAcks).toEqual(ids);
    expect(result.retryMessages).toEqual([]);
    const processed = await env.DB.prepare(
      "SELECT consumer FROM processed_events WHERE event_id = ? AND consumer = 'clip-requests'",
    )
      .bind(event.id)
      .first();
    expect(processed).toEqual({ consumer: 'clip-requests' });
  });
});
