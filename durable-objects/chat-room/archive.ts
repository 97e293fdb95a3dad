// Accepted messages leave the room for the chat archive (VOD chat replay, workers/vod/chat-archive.ts)
// in `chat.messages` queue events: every 5 s or every 100 messages, whichever first. Each event is
// cut to fit a queue message by bytes, not by count: Cloudflare Queues refuse a message over
// 128 KB, and 100 messages of escaped characters can exceed that. A message that cannot fit even
// alone is written to D1's dead_letters and skipped, so one bad row can never stop the archive
// (docs/security.md, "poison chat-archive batch").
import { createEvent, type EventOf } from '../../protocol/events.ts';
import type { ChannelInfo } from '../chat/types.ts';
import type { MessageRecord, RoomStorage, StoredMessage } from './storage.ts';

/** Accepted messages go to the chat archive every 5 s or every 100 messages, whichever first. */
export const ARCHIVE_INTERVAL_MS = 5_000;
export const ARCHIVE_BATCH_SIZE = 100;
/**
 * "The maximum size of a message is 128 KB" (Cloudflare Queues limits). The budget leaves room for
 * the envelope and the queue's own framing; an event is cut before it would pass it.
 */
export const MAX_ARCHIVE_EVENT_BYTES = 100 * 1024;
/**
 * A group the queue keeps refusing for this many alarms in a row is dead-lettered and skipped: a
 * refusal that outlives the alarm's retries is the batch, not the queue.
 */
export const MAX_SEND_ATTEMPTS = 5;
/** What the event's envelope (ids, type, channel, stream) costs around its messages. */
const EVENT_OVERHEAD_BYTES = 512;

type ArchivedMessage = EventOf<'chat.messages'>['messages'][number];

export interface ArchiveDeps {
  storage: RoomStorage;
  send(event: EventOf<'chat.messages'>): Promise<unknown>;
  /** Keeps what can never be sent for an operator (D1 dead_letters); `id` makes a retry idempotent. */
  deadLetter(id: string, body: unknown): Promise<void>;
}

const encoder = new TextEncoder();

function toArchived(stored: StoredMessage): ArchivedMessage {
  const { message } = stored;
  return {
    id: message.id,
    user_id: message.user.id,
    user_name: stored.login,
    display_name: message.user.display_name,
    color: message.user.color,
    badges: message.user.badges,
    emotes: message.emotes,
    content: message.content,
    sent_at: stored.sentAt,
  };
}

/** Groups messages, in order, so each group's event stays under `maxBytes`; `oversized` fit nowhere. */
export function splitByBytes(
  messages: readonly ArchivedMessage[],
  maxBytes: number,
): { groups: ArchivedMessage[][]; oversized: ArchivedMessage[] } {
  const groups: ArchivedMessage[][] = [];
  const oversized: ArchivedMessage[] = [];
  let current: ArchivedMessage[] = [];
  let bytes = EVENT_OVERHEAD_BYTES;
  for (const message of messages) {
    // +1 for the comma between array items.
    const size = encoder.encode(JSON.stringify(message)).byteLength + 1;
    if (EVENT_OVERHEAD_BYTES + size > maxBytes) {
      oversized.push(message);
      continue;
    }
    if (bytes + size > maxBytes) {
      groups.push(current);
      current = [];
      bytes = EVENT_OVERHEAD_BYTES;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return { groups, oversized };
}

export class ChatArchive {
  readonly #deps: ArchiveDeps;
  /** Consecutive failed sends of the group at the cursor (in memory: a restart retries afresh). */
  #failedAttempts = 0;

  constructor(deps: ArchiveDeps) {
    this.#deps = deps;
  }

  /** When the oldest unarchived message becomes due, or null when all are archived. */
  nextDueAt(): number | null {
    const oldest = this.#deps.storage.readOldestUnarchivedSentAt();
    return oldest === null ? null : oldest + ARCHIVE_INTERVAL_MS;
  }

  /**
   * Sends what is due, advancing the cursor after each sent event, then trims history to what
   * joiners need (`keep`). A send that fails throws with the cursor at the last event that went
   * out, so the next alarm resumes there and nothing is sent twice.
   */
  async flush(channel: ChannelInfo, streamId: string | null, now: number, keep: number): Promise<void> {
    const { storage } = this.#deps;
    let cursor = storage.readArchivedSeq();
    const oldest = storage.readOldestSentAtAfter(cursor);
    if (oldest === null) return;
    if (now - oldest < ARCHIVE_INTERVAL_MS && storage.countMessagesAfter(cursor) < ARCHIVE_BATCH_SIZE) return;
    for (;;) {
      const rows = storage.readMessagesAfter(cursor, ARCHIVE_BATCH_SIZE);
      const last = rows.at(-1);
      if (!last) break;
      // A row that no longer parses can never be sent either: it goes where oversized ones go.
      for (const row of rows.filter((r): r is MessageRecord & { stored: null } => r.stored === null)) {
        await this.#deps.deadLetter(`chat-archive:seq:${channel.id}:${row.seq}`, {
          reason: 'chat message row does not parse',
          channel_id: channel.id,
          row: row.raw,
        });
      }
      const stored = rows.flatMap((row) => (row.stored ? [row.stored] : []));
      const archived = stored.map(toArchived);
      const lastSeqById = new Map(stored.map((row) => [row.message.id, row.seq]));
      const { groups, oversized } = splitByBytes(archived, MAX_ARCHIVE_EVENT_BYTES);
      for (const message of oversized)
        await this.#deadLetter(channel, streamId, message, 'larger than a queue message');
      for (const group of groups) {
        try {
          await this.#deps.send(
            createEvent('chat.messages', { channel_id: channel.id, stream_id: streamId, messages: group }),
          );
          this.#failedAttempts = 0;
        } catch (error) {
          this.#failedAttempts++;
          if (this.#failedAttempts < MAX_SEND_ATTEMPTS) throw error;
          this.#failedAttempts = 0;
          for (const message of group)
            await this.#deadLetter(channel, streamId, message, `refused by the queue: ${String(error)}`);
        }
        const groupLast = group.at(-1);
        const seq = groupLast ? lastSeqById.get(groupLast.id) : undefined;
        // Oversized rows before this group were dead-lettered above: moving past them is safe.
        if (seq !== undefined) storage.writeArchivedSeq(seq);
      }
      cursor = last.seq;
      storage.writeArchivedSeq(cursor);
    }
    storage.trimArchived(cursor, keep);
  }

  async #deadLetter(
    channel: ChannelInfo,
    streamId: string | null,
    message: ArchivedMessage,
    reason: string,
  ): Promise<void> {
    await this.#deps.deadLetter(`chat-archive:${message.id}`, {
      reason: `chat message ${reason}`,
      channel_id: channel.id,
      stream_id: streamId,
      message,
    });
  }
}
