// The chat room's SQLite: the channel it speaks for, its settings, bans, the recent messages (history
// for joiners and the archive's backlog), the shards' census and the unique-viewer sketch. Every
// row and every stored JSON document is zod-parsed on the way out (conventions: parse, never cast),
// so a row written by an older version or damaged on disk fails loudly here, not three calls later.
//
// Tables exist only once the room is bound to a real channel (see `create`): a request naming a
// random channel id never leaves an object with storage behind (docs/security.md).
import * as z from 'zod/mini';
import { type ChatMessage, ChatMessageFrame, RoomState } from '../../protocol/chat.ts';
import { ChannelTier } from '../../protocol/ingest.ts';
import { MAX_MESSAGES_PER_VIEWER_PER_SECOND } from '../chat/sampling.ts';
import type { BanRecord, ChannelInfo, ChatSettings } from '../chat/types.ts';

export const DEFAULT_SETTINGS: ChatSettings = {
  slow_seconds: 0,
  subscribers_only: false,
  emote_only: false,
  followers_only_minutes: -1,
  unique_chat: false,
  banned_words: [],
  automod: false,
  automod_allowed_domains: [],
  auto_slow_messages_per_second: 0,
  auto_slow_seconds: 3,
  auto_slow_active: false,
  sample_messages_per_second: MAX_MESSAGES_PER_VIEWER_PER_SECOND,
};

const StoredChannel = z.object({
  id: z.string(),
  name: z.string(),
  displayName: z.string(),
  ownerId: z.string(),
  tier: ChannelTier,
});
/** Settings written before a field existed take its default. */
const StoredSettings = z.partial(
  z.extend(RoomState, {
    banned_words: z.array(z.string()),
    automod: z.boolean(),
    automod_allowed_domains: z.array(z.string()),
    auto_slow_messages_per_second: z.number(),
    auto_slow_seconds: z.number(),
    auto_slow_active: z.boolean(),
    sample_messages_per_second: z.number(),
  }),
);
const MetaRow = z.object({ value: z.string() });
const SeqRow = z.object({ seq: z.number() });
const CountRow = z.object({ n: z.number() });
const SentAtRow = z.object({ sent_at: z.number() });
const BanRow = z.object({
  user_id: z.string(),
  login: z.string(),
  kind: z.enum(['ban', 'timeout']),
  reason: z.string(),
  moderator_id: z.nullable(z.string()),
  created_at: z.number(),
  expires_at: z.nullable(z.number()),
});
const ShardRow = z.object({ name: z.string(), count: z.number(), reported_at: z.number() });
const SketchRow = z.object({ stream_id: z.nullable(z.string()), registers: z.instanceof(ArrayBuffer) });
const MessageRow = z.object({
  seq: z.number(),
  id: z.string(),
  user_id: z.string(),
  login: z.string(),
  frame: z.string(),
  sent_at: z.number(),
});

/** One stored message: its row columns and the frame as clients received it. */
export interface StoredMessage {
  seq: number;
  login: string;
  sentAt: number;
  message: ChatMessage;
}

/** A stored row as read back: the message, or null when the row no longer parses (kept raw). */
export interface MessageRecord {
  seq: number;
  stored: StoredMessage | null;
  raw: unknown;
}

function parseMessageRow(row: unknown): MessageRecord {
  const seq = SeqRow.parse(row).seq;
  const parsed = MessageRow.safeParse(row);
  if (!parsed.success) return { seq, stored: null, raw: row };
  let frame: unknown;
  try {
    frame = JSON.parse(parsed.data.frame);
  } catch {
    return { seq, stored: null, raw: row };
  }
  const message = ChatMessageFrame.safeParse(frame);
  if (!message.success) return { seq, stored: null, raw: row };
  return {
    seq,
    stored: { seq, login: parsed.data.login, sentAt: parsed.data.sent_at, message: message.data },
    raw: row,
  };
}

export class RoomStorage {
  readonly #sql: SqlStorage;
  /** readHistoryJson's frames, or null when history changed since. */
  #history: string[] | null = null;
  #historyLimit = 0;
  /** readOldestUnarchivedSentAt's answer; undefined until read or after what could change it. */
  #oldestUnarchived: number | null | undefined = undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Whether the room was ever bound to a channel (its tables exist). */
  exists(): boolean {
    return (
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length >
      0
    );
  }

  /** Creates the tables; called once the channel is known to exist in D1. */
  create(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS bans (
        user_id TEXT PRIMARY KEY, login TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
        moderator_id TEXT, created_at INTEGER NOT NULL, expires_at INTEGER);
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
        login TEXT NOT NULL, frame TEXT NOT NULL, sent_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, count INTEGER NOT NULL, reported_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS unique_viewers (id INTEGER PRIMARY KEY CHECK (id = 1), stream_id TEXT, registers BLOB NOT NULL);
    `);
  }

  // ---- meta: channel, settings, archive cursor ----

  #readMeta(key: string): string | null {
    const row = this.#sql.exec('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row === undefined ? null : MetaRow.parse(row).value;
  }

  #writeMeta(key: string, value: string): void {
    this.#sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, value);
  }

  readChannel(): ChannelInfo | null {
    const stored = this.#readMeta('channel');
    return stored === null ? null : StoredChannel.parse(JSON.parse(stored));
  }

  writeChannel(channel: ChannelInfo): void {
    this.#writeMeta('channel', JSON.stringify(channel));
  }

  readSettings(): ChatSettings {
    const stored = this.#readMeta('settings');
    if (stored === null) return DEFAULT_SETTINGS;
    return { ...DEFAULT_SETTINGS, ...StoredSettings.parse(JSON.parse(stored)) };
  }

  writeSettings(settings: ChatSettings): void {
    this.#writeMeta('settings', JSON.stringify(settings));
  }

  readArchivedSeq(): number {
    return Number(this.#readMeta('archived_seq') ?? 0);
  }

  writeArchivedSeq(seq: number): void {
    this.#writeMeta('archived_seq', String(seq));
    this.#oldestUnarchived = undefined;
  }

  /** When this channel last raided (moderation.ts, RAID_COOLDOWN_MS); 0 when never. */
  readLastRaidAt(): number {
    return Number(this.#readMeta('last_raid_at') ?? 0);
  }

  writeLastRaidAt(at: number): void {
    this.#writeMeta('last_raid_at', String(at));
  }

  // ---- bans ----

  readBans(): BanRecord[] {
    return this.#sql
      .exec('SELECT * FROM bans')
      .toArray()
      .map((row) => BanRow.parse(row));
  }

  writeBan(ban: BanRecord): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO bans (user_id, login, kind, reason, moderator_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ban.user_id,
      ban.login,
      ban.kind,
      ban.reason,
      ban.moderator_id,
      ban.created_at,
      ban.expires_at,
    );
  }

  deleteBan(userId: string): void {
    this.#sql.exec('DELETE FROM bans WHERE user_id = ?', userId);
  }

  // ---- messages ----

  insertMessage(message: ChatMessage, login: string, sentAt: number): void {
    this.#sql.exec(
      'INSERT INTO messages (id, user_id, login, frame, sent_at) VALUES (?, ?, ?, ?, ?)',
      message.id,
      message.user.id,
      login,
      JSON.stringify(message),
      sentAt,
    );
    // The newest message: it becomes the oldest unarchived one only when there was none.
    if (this.#oldestUnarchived === null) this.#oldestUnarchived = sentAt;
    if (this.#history !== null) {
      this.#history.push(JSON.stringify(message));
      if (this.#history.length > this.#historyLimit) this.#history.shift();
    }
  }

  findMessage(id: string): StoredMessage | null {
    const row = this.#sql.exec('SELECT * FROM messages WHERE id = ?', id).toArray()[0];
    return row === undefined ? null : parseMessageRow(row).stored;
  }

  deleteMessage(id: string): void {
    this.#history = null;
    this.#oldestUnarchived = undefined;
    this.#sql.exec('DELETE FROM messages WHERE id = ?', id);
  }

  deleteMessagesOf(userId: string): void {
    this.#history = null;
    this.#oldestUnarchived = undefined;
    this.#sql.exec('DELETE FROM messages WHERE user_id = ?', userId);
  }

  deleteAllMessages(): void {
    this.#history = null;
    this.#oldestUnarchived = undefined;
    this.#sql.exec('DELETE FROM messages');
  }

  /**
   * The newest `limit` messages as the JSON text of an array of chat_message frames, oldest first;
   * a row that no longer parses is left out. Every join reads it, so the frames are parsed once and
   * kept as text until history changes: a busy room greets each joiner without re-parsing 100 rows.
   */
  readHistoryJson(limit: number): string {
    if (this.#history === null || this.#historyLimit !== limit) {
      this.#historyLimit = limit;
      this.#history = this.#sql
        .exec('SELECT * FROM messages ORDER BY seq DESC LIMIT ?', limit)
        .toArray()
        .reverse()
        .flatMap((row) => {
          const { stored } = parseMessageRow(row);
          return stored ? [JSON.stringify(stored.message)] : [];
        });
    }
    return `[${this.#history.join(',')}]`;
  }

  readMessagesAfter(seq: number, limit: number): MessageRecord[] {
    return this.#sql
      .exec('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', seq, limit)
      .toArray()
      .map(parseMessageRow);
  }

  countMessagesAfter(seq: number): number {
    return CountRow.parse(this.#sql.exec('SELECT count(*) AS n FROM messages WHERE seq > ?', seq).one()).n;
  }

  readOldestSentAtAfter(seq: number): number | null {
    const row = this.#sql
      .exec('SELECT sent_at FROM messages WHERE seq > ? ORDER BY seq LIMIT 1', seq)
      .toArray()[0];
    return row === undefined ? null : SentAtRow.parse(row).sent_at;
  }

  /**
   * When the oldest message not yet archived was sent, or null when every one is: the archive's
   * next due time, asked on every message the room accepts, so it is kept in memory and read from
   * SQLite only after the cursor moved or messages were deleted.
   */
  readOldestUnarchivedSentAt(): number | null {
    if (this.#oldestUnarchived === undefined)
      this.#oldestUnarchived = this.readOldestSentAtAfter(this.readArchivedSeq());
    return this.#oldestUnarchived;
  }

  /** Drops archived messages older than the newest `keep` (what joiners still need). */
  trimArchived(archivedSeq: number, keep: number): void {
    this.#history = null;
    this.#sql.exec(
      'DELETE FROM messages WHERE seq <= ? AND seq <= (SELECT max(seq) FROM messages) - ?',
      archivedSeq,
      keep,
    );
  }

  // ---- shards and the unique-viewer sketch ----

  readShards(): { name: string; count: number; reportedAt: number }[] {
    return this.#sql
      .exec('SELECT * FROM shards')
      .toArray()
      .map((row) => {
        const parsed = ShardRow.parse(row);
        return { name: parsed.name, count: parsed.count, reportedAt: parsed.reported_at };
      });
  }

  writeShard(name: string, count: number, reportedAt: number): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO shards (name, count, reported_at) VALUES (?, ?, ?)',
      name,
      count,
      reportedAt,
    );
  }

  deleteShard(name: string): void {
    this.#sql.exec('DELETE FROM shards WHERE name = ?', name);
  }

  readSketch(): { streamId: string | null; registers: Uint8Array } | null {
    const row = this.#sql.exec('SELECT stream_id, registers FROM unique_viewers').toArray()[0];
    if (row === undefined) return null;
    const parsed = SketchRow.parse(row);
    return { streamId: parsed.stream_id, registers: new Uint8Array(parsed.registers) };
  }

  writeSketch(streamId: string | null, registers: Uint8Array): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO unique_viewers (id, stream_id, registers) VALUES (1, ?, ?)',
      streamId,
      registers,
    );
  }
}
