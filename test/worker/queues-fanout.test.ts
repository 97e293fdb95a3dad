// The "went live" fan-out of a channel with more followers than one queue message may write: each
// message inserts a bounded share in bounded statements and queues the rest, and every follower
// ends up notified exactly once.
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../protocol/events.ts';
import { consumeQueueBatch } from '../../workers/queues/index.ts';
import { FANOUT_PAGE_ROWS, FANOUT_PAGES_PER_MESSAGE } from '../../workers/queues/notify-followers.ts';
import { signUp } from './api-helpers.ts';

/** `count` users following `channelId`, made in two statements (a recursive CTE counts them out). */
async function addFollowers(channelId: string, count: number): Promise<void> {
  const tag = crypto.randomUUID().slice(0, 8);
  await env.DB.batch([
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
       INSERT INTO users (id, username, password_hash, created_at)
       SELECT printf('%s-%06d', ?2, i), printf('f%s_%06d', ?2, i), 'x', ?3 FROM n`,
    ).bind(count, tag, Date.now()),
    env.DB.prepare(
      `INSERT INTO follows (user_id, channel_id, created_at)
       SELECT id, ?1, ?2 FROM users WHERE id LIKE ?3`,
    ).bind(channelId, Date.now(), `${tag}-%`),
  ]);
}

async function countNotifications(streamId: string): Promise<{ rows: number; users: number }> {
  const row = await env.DB.prepare(
    'SELECT count(*) AS rows, count(DISTINCT user_id) AS users FROM notifications WHERE stream_id = ?',
  )
    .bind(streamId)
    .first<{ rows: number; users: number }>();
  return { rows: row?.rows ?? 0, users: row?.users ?? 0 };
}

describe('follower notification fan-out', () => {
  it('notifies a channel with more followers than one message may write in bounded shares, each follower once', async () => {
    const streamer = await signUp('bigchannel');
    const perMessage = FANOUT_PAGE_ROWS * FANOUT_PAGES_PER_MESSAGE;
    const followers = perMessage * 2 + 123;
    await addFollowers(streamer.channel.id, followers);
    const streamId = crypto.randomUUID();
    await env.DB.prepare(
      "INSERT INTO streams (id, channel_id, title, status, created_at) VALUES (?, ?, 'Big day', 'live', ?)",
    )
      .bind(streamId, streamer.channel.id, Date.now())
      .run();
    const event = createEvent('stream.started', { stream_id: streamId, channel_id: streamer.channel.id });
    const batch = createMessageBatch('stream-events', [
      { id: `fanout-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body: event },
    ]);
    const ctx = createExecutionContext();
    await consumeQueueBatch(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(1);
    // The first message wrote its share only; the continuations it queued write the rest.
    expect((await countNotifications(streamId)).rows).toBe(perMessage);

    const deadline = Date.now() + 20_000;
    let counted = await countNotifications(streamId);
    while (counted.rows < followers && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      counted = await countNotifications(streamId);
    }
    expect(counted).toEqual({ rows: followers, users: followers });
    const sample = await env.DB.prepare('SELECT message FROM notifications WHERE stream_id = ? LIMIT 1')
      .bind(streamId)
      .first<{ message: string }>();
    expect(sample?.message).toBe(`${streamer.user.username} went live: Big day`);
  });
});
