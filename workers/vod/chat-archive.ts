// Chat replay: the chat room's accepted messages reach the stream-events queue in batches
// (chat.messages), and each batch becomes one R2 object under chat/{stream_id}/, named by its
// first and last sent_at, so a replay window reads only the batches it overlaps. Deletions and
// bans are applied when the replay is read, so a late moderation action still hides old messages.
import { z } from 'zod';
import { Badge, EmoteRef } from '../../protocol/chat.ts';
import { ArchivedChatMessage, type EventOf } from '../../protocol/events.ts';
import { getChatBatchKey, getChatPrefix, listObjects, parseChatBatchKey } from './vod-keys.ts';
import { mapWallClockToPosition, type VodRun } from './vod-playlists.ts';

/** The most batches one replay request reads (a batch holds up to a few hundred messages). */
const MAX_BATCHES_PER_READ = 100;
/** Tombstone lookups go in chunks: D1 caps bound parameters per statement at 100. */
const ID_CHUNK = 90;

const ChatBatch = z.object({ messages: z.array(ArchivedChatMessage) });

/** The optional fields the chat room adds to each archived message (protocol/chat.ts shapes). */
const MessageExtras = z.object({
  display_name: z.string().optional().catch(undefined),
  color: z.string().optional().catch(undefined),
  badges: z.array(Badge).optional().catch(undefined),
  emotes: z.array(EmoteRef).optional().catch(undefined),
});

export interface ReplayMessage {
  id: string;
  offset_seconds: number;
  sent_at: number;
  user: { id: string; name: string; display_name: string; color: string | null; badges: Badge[] };
  content: string;
  emotes: EmoteRef[];
}

/** The stream a batch belongs to: named by the room, or the channel's stream live at its first message. */
async function resolveStreamId(
  db: D1Database,
  event: EventOf<'chat.messages'>,
  firstSentAt: number,
): Promise<string | null> {
  if (event.stream_id !== null) return event.stream_id;
  const row = await db
    .prepare(
      `SELECT id FROM streams WHERE channel_id = ? AND started_at IS NOT NULL AND started_at <= ?
         AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at DESC LIMIT 1`,
    )
    .bind(event.channel_id, firstSentAt, firstSentAt)
    .first<{ id: string }>();
  return row?.id ?? null;
}

/** Writes one chat.messages batch to R2. The event id names the object, so a redelivery rewrites it. */
export async function archiveChatBatch(env: Env, event: EventOf<'chat.messages'>): Promise<void> {
  const messages = [...event.messages].sort((a, b) => a.sent_at - b.sent_at);
  const first = messages[0];
  const last = messages.at(-1);
  if (!first || !last) return;
  const streamId = await resolveStreamId(env.DB, event, first.sent_at);
  // Chat while offline belongs to no broadcast, so no replay shows it.
  if (streamId === null) return;
  await env.MEDIA.put(
    getChatBatchKey(streamId, first.sent_at, last.sent_at, event.id),
    JSON.stringify({ channel_id: event.channel_id, stream_id: streamId, messages }),
    { httpMetadata: { contentType: 'application/json' } },
  );
}

interface HiddenUsers {
  banned: Set<string>;
  /** user id → when their timeout was given: it cleared what they had said before. */
  timedOutAt: Map<string, number>;
}

async function loadHiddenUsers(db: D1Database, channelId: string): Promise<HiddenUsers> {
  const { results } = await db
    .prepare('SELECT user_id, kind, created_at FROM bans WHERE channel_id = ?')
    .bind(channelId)
    .all<{ user_id: string; kind: string; created_at: number }>();
  const hidden: HiddenUsers = { banned: new Set(), timedOutAt: new Map() };
  for (const row of results) {
    if (row.kind === 'ban') hidden.banned.add(row.user_id);
    else hidden.timedOutAt.set(row.user_id, row.created_at);
  }
  return hidden;
}

async function loadTombstones(
  db: D1Database,
  channelId: string,
  ids: readonly string[],
): Promise<Set<string>> {
  const deleted = new Set<string>();
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const chunk = ids.slice(i, i + ID_CHUNK);
    const { results } = await db
      .prepare(
        `SELECT message_id FROM chat_tombstones WHERE channel_id = ? AND message_id IN (${chunk.map(() => '?').join(',')})`,
      )
      .bind(channelId, ...chunk)
      .all<{ message_id: string }>();
    for (const row of results) deleted.add(row.message_id);
  }
  return deleted;
}

export interface ReplayWindow {
  streamId: string;
  channelId: string;
  runs: readonly VodRun[];
  fromSeconds: number;
  toSeconds: number;
}

/**
 * The messages shown between `fromSeconds` and `toSeconds` of a VOD, in time order, without
 * deleted messages, messages of users banned in the channel, or messages a timeout cleared.
 */
export async function readChatReplay(env: Env, window: ReplayWindow): Promise<ReplayMessage[]> {
  const keys = [...(await listObjects(env.MEDIA, getChatPrefix(window.streamId))).keys()].sort();
  const overlapping = keys
    .filter((key) => {
      const range = parseChatBatchKey(key);
      if (!range) return false;
      const from = mapWallClockToPosition(window.runs, range.first);
      const to = mapWallClockToPosition(window.runs, range.last);
      return to >= window.fromSeconds && from < window.toSeconds;
    })
    .slice(0, MAX_BATCHES_PER_READ);
  const batches = await Promise.all(
    overlapping.map(async (key) => {
      const object = await env.MEDIA.get(key);
      return object ? ChatBatch.parse(await object.json()).messages : [];
    }),
  );
  const candidates = batches
    .flat()
    .map((message) => ({ message, offset: mapWallClockToPosition(window.runs, message.sent_at) }))
    .filter(({ offset }) => offset >= window.fromSeconds && offset < window.toSeconds);
  const [hidden, deleted] = await Promise.all([
    loadHiddenUsers(env.DB, window.channelId),
    loadTombstones(
      env.DB,
      window.channelId,
      candidates.map(({ message }) => message.id),
    ),
  ]);
  const seen = new Set<string>();
  const replay: ReplayMessage[] = [];
  for (const { message, offset } of candidates) {
    if (seen.has(message.id) || deleted.has(message.id) || hidden.banned.has(message.user_id)) continue;
    const timedOutAt = hidden.timedOutAt.get(message.user_id);
    if (timedOutAt !== undefined && message.sent_at <= timedOutAt) continue;
    seen.add(message.id);
    const extras = MessageExtras.parse(message);
    replay.push({
      id: message.id,
      offset_seconds: Number(offset.toFixed(3)),
      sent_at: message.sent_at,
      user: {
        id: message.user_id,
        name: message.user_name,
        display_name: extras.display_name ?? message.user_name,
        color: extras.color ?? null,
        badges: extras.badges ?? [],
      },
      content: message.content,
      emotes: extras.emotes ?? [],
    });
  }
  return replay.sort((a, b) => a.sent_at - b.sent_at);
}
