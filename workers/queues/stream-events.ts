// stream-events: notifications (in-app rows, Web Push shares) and search for stream.*, follower counts for channel.*, the VOD
// of an ended stream, and the chat archive (chat.messages batches, chat.message_deleted tombstones).
import { createPushFanoutHandler, queueWentLivePushes } from '../notifications/push-fanout.ts';
import { prepareSearchIndexRefresh } from '../shared/search-index.ts';
import { archiveChatBatch } from '../vod/chat-archive.ts';
import { finalizeVod } from '../vod/finalize-vod.ts';
import type { EventHandlers } from './consume.ts';
import { prepareFollowerNotifications } from './notify-followers.ts';

function prepareFollowerCount(db: D1Database, channelId: string): D1PreparedStatement {
  // Recounting (rather than +1/-1) makes the effect correct whatever order events arrive in.
  return db
    .prepare(
      'UPDATE channels SET follower_count = (SELECT count(*) FROM follows WHERE channel_id = ?1) WHERE id = ?1',
    )
    .bind(channelId);
}

export const streamEventHandlers: EventHandlers = {
  'stream.started': async (event, env) => {
    // Queued on every delivery (a continuation of a big fan-out included): its id is derived from
    // the stream, so the consumer sends the first push share once.
    await queueWentLivePushes(env, event);
    return [
      ...(await prepareFollowerNotifications(env, event)),
      ...prepareSearchIndexRefresh(env.DB, event.channel_id),
    ];
  },
  'notification.push': createPushFanoutHandler((request) => fetch(request)),
  'stream.updated': async (event, env) => prepareSearchIndexRefresh(env.DB, event.channel_id),
  'stream.ended': async (event, env) => [
    ...prepareSearchIndexRefresh(env.DB, event.channel_id),
    ...(await finalizeVod(env, event.stream_id, {
      now: Date.now(),
      retentionDays: Number(env.VOD_RETENTION_DAYS),
    })),
  ],
  'chat.messages': async (event, env) => {
    await archiveChatBatch(env, event);
    return [];
  },
  // The archived batch keeps the message; the replay leaves out what has a tombstone.
  'chat.message_deleted': async (event, env) => [
    env.DB.prepare(
      'INSERT INTO chat_tombstones (channel_id, message_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ).bind(event.channel_id, event.message_id, event.occurred_at),
  ],
  'channel.followed': async (event, env) => [prepareFollowerCount(env.DB, event.channel_id)],
  'channel.unfollowed': async (event, env) => [prepareFollowerCount(env.DB, event.channel_id)],
};
