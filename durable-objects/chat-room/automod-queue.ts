// The messages AutoMod holds (chat/automod.ts) until a moderator approves or denies them, in the
// room's SQLite storage so a restart loses none. Bounded: at most MAX_HELD wait, each for HELD_TTL_MS
// (Twitch drops a held message nobody acted on); past the bound the oldest is dropped unsent.
// Approving returns the message to the room, which sends it like any other; a message approved
// or denied once is gone, so a second approval sends nothing.
import * as z from 'zod/mini';
import { type ChatMessage, ChatMessageFrame } from '../../protocol/chat.ts';
import type { AutomodReason } from '../chat/automod.ts';

export const MAX_HELD = 100;
export const HELD_TTL_MS = 5 * 60_000;

export interface HeldMessage {
  message: ChatMessage;
  login: string;
  reason: AutomodReason;
  detail: string;
  held_at: number;
}

const HeldRow = z.object({
  message: z.string(),
  login: z.string(),
  reason: z.enum(['caps', 'repeated_characters', 'link']),
  detail: z.string(),
  held_at: z.number(),
});

function toHeld(row: unknown): HeldMessage {
  const parsed = HeldRow.parse(row);
  return { ...parsed, message: ChatMessageFrame.parse(JSON.parse(parsed.message)) };
}

export class AutomodQueue {
  readonly #storage: SqlStorage;
  #created = false;

  constructor(sql: SqlStorage) {
    this.#storage = sql;
  }

  /** The table, created on first use: a room bound to no channel keeps no storage (storage.ts). */
  get #sql(): SqlStorage {
    if (!this.#created) {
      this.#storage.exec(`CREATE TABLE IF NOT EXISTS automod_held (
        id TEXT PRIMARY KEY, message TEXT NOT NULL, login TEXT NOT NULL, reason TEXT NOT NULL,
        detail TEXT NOT NULL, held_at INTEGER NOT NULL)`);
      this.#created = true;
    }
    return this.#storage;
  }

  hold(message: ChatMessage, login: string, reason: AutomodReason, detail: string, now: number): void {
    this.#expire(now);
    this.#sql.exec(
      'INSERT OR REPLACE INTO automod_held (id, message, login, reason, detail, held_at) VALUES (?, ?, ?, ?, ?, ?)',
      message.id,
      JSON.stringify(message),
      login,
      reason,
      detail,
      now,
    );
    this.#sql.exec(
      `DELETE FROM automod_held WHERE id NOT IN (SELECT id FROM automod_held ORDER BY held_at DESC LIMIT ?)`,
      MAX_HELD,
    );
  }

  list(now: number): HeldMessage[] {
    this.#expire(now);
    return this.#sql.exec('SELECT * FROM automod_held ORDER BY held_at ASC').toArray().map(toHeld);
  }

  /** Removes and returns a held message (approve or deny); null when it is not held (any more). */
  take(messageId: string, now: number): HeldMessage | null {
    this.#expire(now);
    const row = this.#sql.exec('SELECT * FROM automod_held WHERE id = ?', messageId).toArray()[0];
    if (!row) return null;
    this.#sql.exec('DELETE FROM automod_held WHERE id = ?', messageId);
    return toHeld(row);
  }

  #expire(now: number): void {
    this.#sql.exec('DELETE FROM automod_held WHERE held_at <= ?', now - HELD_TTL_MS);
  }
}
