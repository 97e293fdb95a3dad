// Chat replay: the chat room's accepted messages reach the stream-events queue in batches
// (chat.messages), and each batch becomes one R2 object under chat/{stream_id}/, named by its
// first and last sent_at, so a replay window lists only from its start (startAfter) to its end
// and reads only the batches it overlaps; a window with more batches than one read takes
// answers `next_from`, where the next request continues. Deletions and
// bans are applied when the replay is read, so a late moderation action still hides old messages.
import { z } from 'zod';
import { mapWallClockToPosition, type VodRun } from '../../media/hls/vod-playlist.ts';
import { Badge, EmoteRef } from '../../protocol/chat.ts';
import { ArchivedChatMessage, type EventOf } from '../../protocol/events.ts';
import { getChatBatchKey, getChatListStart, getChatPrefix, parseChatBatchKey } from './r2-storage.ts';

export interface ChatReplay {
  messages: ReplayMessage[];
  /** Where to continue (seconds) when the window held more batches than one read takes; else null. */
  nextFrom: number | null;
}

/** The most batches one replay request reads (a batch holds up to a hundred messages). */
const MAX_BATCHES_PER_READ = 100;
/**
 * Past the cap, batches that all show at the window's first position cannot be paged by position:
 * they are read on, up to this many.
 */
const HARD_MAX_BATCHES = 300;
/**
 * How long before its last message a batch can start: the chat room archives every 5 s (or every
 * 100 messages); a minute leaves room for a late alarm. Listing starts this far before the window.
 */
const MAX_BATCH_SPAN_MS = 60_000;
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
 * The wall-clock span whose messages can show between `from` and `to` (VOD seconds): a superset,
 * since a message sent in a reconnect gap shows at the start of the run after it, and one sent
 * before the first sample at 0. The exact position filter runs on the messages afterwards.
 */
function findWallClockSpan(
  runs: readonly VodRun[],
  from: number,
  to: number,
): { lower: number; upper: number } {
  let lower = Number.NEGATIVE_INFINITY;
  let upper = Number.POSITIVE_INFINITY;
  let previousEnd = Number.NEGATIVE_INFINITY;
  for (const run of runs) {
    const end = run.start_seconds + run.duration_seconds;
    if (from >= run.start_seconds && from < end) {
      lower = from === run.start_seconds ? previousEnd : run.pdt + (from - run.start_seconds) * 1000;
    }
    if (to >= run.start_seconds && to < end) upper = run.pdt + (to - run.start_seconds) * 1000;
    previousEnd = run.pdt + run.duration_seconds * 1000;
  }
  // A window that starts past the VOD's end only shows what was sent after its last sample.
  if (lower === Number.NEGATIVE_INFINITY && runs.length > 0 && from > 0) lower = previousEnd;
  return { lower, upper };
}

/** The batch keys that can overlap the window, in order, and where a capped read stops. */
async function listWindowBatches(
  bucket: R2Bucket,
  window: ReplayWindow,
): Promise<{ keys: string[]; nextFrom: number | null }> {
  const { lower, upper } = findWallClockSpan(window.runs, window.fromSeconds, window.toSeconds);
  const prefix = getChatPrefix(window.streamId);
  const keys: string[] = [];
  let cursor: string | undefined;
  const startAfter = Number.isFinite(lower)
    ? getChatListStart(window.streamId, lower - MAX_BATCH_SPAN_MS)
    : undefined;
  for (;;) {
    const page = await bucket.list(cursor === undefined ? { prefix, startAfter } : { prefix, cursor });
    for (const object of page.objects) {
      const range = parseChatBatchKey(object.key);
      if (!range || range.last < lower) continue;
      // Keys sort by their first message: past the window's end, nothing later can overlap.
      if (range.first >= upper) return { keys, nextFrom: null };
      if (keys.length >= MAX_BATCHES_PER_READ) {
        const next = mapWallClockToPosition(window.runs, range.first);
        if (next > window.fromSeconds || keys.length >= HARD_MAX_BATCHES) return { keys, nextFrom: next };
      }
      keys.push(object.key);
    }
    if (!page.truncated) return { keys, nextFrom: null };
    cursor = page.cursor;
  }
}

/**
 * The messages shown between `fromSeconds` and `toSeconds` of a VOD, in time order, without
 * deleted messages, messages of users banned in the channel, or messages a timeout cleared. A
 * window of more than MAX_BATCHES_PER_READ batches answers up to `nextFrom`.
 */
export async function readChatReplay(env: Env, window: ReplayWindow): Promise<ChatReplay> {
  const { keys: overlapping, nextFrom } = await listWindowBatches(env.MEDIA, window);
  const toSeconds = nextFrom ?? window.toSeconds;
  const batches = await Promise.all(
    overlapping.map(async (key) => {
      const object = await env.MEDIA.get(key);
      return object ? ChatBatch.parse(await object.json()).messages : [];
    }),
  );
  const candidates = batches
    .flat()
    .map((message) => ({ message, offset: mapWallClockToPosition(window.runs, message.sent_at) }))
    .filter(({ offset }) => offset >= window.fromSeconds && offset < toSeconds);
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
  return { messages: replay.sort((a, b) => a.sent_at - b.sent_at), nextFrom };
}
