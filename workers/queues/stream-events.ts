// stream-events: notifications and search for stream.*, follower counts for channel.*, the VOD
// of an ended stream, and the chat archive (chat.messages batches, chat.message_deleted tombstones).
import { prepareSearchIndexRefresh } from '../shared/search-index.ts';
import { archiveChatBatch } from '../vod/chat-archive.ts';
import { finalizeVod } from '../vod/finalize-vod.ts';
import type { EventHandlers } from './consume.ts';

function prepareFollowerCount(db: D1Database, channelId: string): D1PreparedStatement {
  // Recounting (rather than +1/-1) makes the effect correct whatever order events arrive in.
  return db
    .prepare(
      'UPDATE channels SET follower_count = (SELECT count(*) FROM follows WHERE channel_id = ?1) WHERE id = ?1',
    )
    .bind(channelId);
}

export const streamEventHandlers: EventHandlers = {
  'stream.started': async (event, env) => [
    // One "went live" notification per follower; UNIQUE (user_id, kind, stream_id) makes it once.
    env.DB.prepare(
      `INSERT INTO notifications (id, user_id, kind, channel_id, stream_id, message, created_at)
       SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
                || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-'
                || hex(randomblob(6))),
              f.user_id, 'stream.live', c.id, ?2,
              c.display_name || ' went live' || CASE WHEN s.title <> '' THEN ': ' || s.title ELSE '' END, ?3
       FROM follows f JOIN channels c ON c.id = f.channel_id LEFT JOIN streams s ON s.id = ?2
       WHERE f.channel_id = ?1
       ON CONFLICT (user_id, kind, stream_id) DO NOTHING`,
    ).bind(event.channel_id, event.stream_id, event.occurred_at),
    ...prepareSearchIndexRefresh(env.DB, event.channel_id),
  ],
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
