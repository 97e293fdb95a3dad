// What the chat room keeps in memory between messages so that accepting one costs no more than it
// must (bench/chat/chat-hostile.ts profiled the room's accept path: the archive's next due time read
// from SQLite twice per message, and unique chat's 200 recent contents rebuilt per message): the
// kept state must answer exactly as the stored one and the rules did before.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { ChatterProfile } from '../../durable-objects/chat/badges.ts';
import { UNIQUE_CHAT_MAX_MESSAGES, UNIQUE_CHAT_WINDOW_MS } from '../../durable-objects/chat/rules.ts';
import type { ChatSettings } from '../../durable-objects/chat/types.ts';
import { MessageIntake } from '../../durable-objects/chat-room/message-intake.ts';
import { DEFAULT_SETTINGS, RoomStorage } from '../../durable-objects/chat-room/storage.ts';
import type { ChatMessage } from '../../protocol/chat.ts';

function chatter(id: string): ChatterProfile {
  return {
    id,
    login: id,
    displayName: id,
    isBroadcaster: false,
    isModerator: false,
    isVip: false,
    isPartner: false,
    subscription: null,
    followedAt: null,
  };
}

describe('the chat room between messages', () => {
  it('refuses a repeat in unique-chat mode within the window and the last 200 messages, and only then', () => {
    const intake = new MessageIntake();
    const unique: ChatSettings = { ...DEFAULT_SETTINGS, unique_chat: true };
    // Every message from its own sender: the per-user rate limit stays out of the way.
    let sender = 0;
    const say = (content: string, at: number, settings = unique) =>
      intake.accept(chatter(`u${sender++}`), content, new Map(), { channelId: 'c', settings, ban: null }, at)
        .kind;
    const t0 = 1_000_000;
    expect(say('gg', t0)).toBe('accepted');
    expect(say('GG ', t0 + 1000)).toBe('error');
    // Outside unique chat a repeat goes through, and is remembered like any other message.
    expect(say('gg', t0 + 2000, DEFAULT_SETTINGS)).toBe('accepted');
    expect(say('gg', t0 + 2000 + UNIQUE_CHAT_WINDOW_MS)).toBe('error');
    expect(say('gg', t0 + 2001 + UNIQUE_CHAT_WINDOW_MS)).toBe('accepted');
    // Pushed out by 200 newer messages inside the window.
    const t1 = t0 + 10 * UNIQUE_CHAT_WINDOW_MS;
    expect(say('hello there', t1)).toBe('accepted');
    for (let i = 0; i < UNIQUE_CHAT_MAX_MESSAGES - 1; i++)
      expect(say(`line ${i}`, t1 + 1 + i)).toBe('accepted');
    expect(say('hello there', t1 + UNIQUE_CHAT_MAX_MESSAGES)).toBe('error');
    expect(say('one more', t1 + UNIQUE_CHAT_MAX_MESSAGES + 1)).toBe('accepted');
    expect(say('hello there', t1 + UNIQUE_CHAT_MAX_MESSAGES + 2)).toBe('accepted');
  });

  it('knows when the oldest unarchived message was sent as SQLite does, through inserts, archiving and deletes', async () => {
    const room = env.CHAT_ROOM.getByName(`room-state-${crypto.randomUUID()}`);
    await runInDurableObject(room, (_instance, state) => {
      const storage = new RoomStorage(state.storage.sql);
      storage.create();
      const insert = (userId: string, at: number) => {
        const message: ChatMessage = {
          type: 'chat_message',
          id: crypto.randomUUID(),
          channel_id: 'c',
          user: { id: userId, name: userId, display_name: userId, color: '#FF0000', badges: [] },
          content: `at ${at}`,
          emotes: [],
          timestamp: new Date(at).toISOString(),
        };
        storage.insertMessage(message, userId, at);
        return message.id;
      };
      const seqOf = (id: string) =>
        storage.readMessagesAfter(0, 100).find((r) => r.stored?.message.id === id)?.seq;
      // What a room restarted at this moment would read from storage alone.
      const fromStorage = () => new RoomStorage(state.storage.sql).readOldestUnarchivedSentAt();
      const expectOldest = (at: number | null) => {
        expect(storage.readOldestUnarchivedSentAt()).toBe(at);
        expect(fromStorage()).toBe(at);
      };

      expectOldest(null);
      const first = insert('u1', 1000);
      expectOldest(1000);
      const second = insert('u2', 2000);
      expectOldest(1000);
      storage.writeArchivedSeq(seqOf(first) ?? -1);
      expectOldest(2000);
      storage.deleteMessage(second);
      expectOldest(null);
      const third = insert('u1', 3000);
      expectOldest(3000);
      storage.writeArchivedSeq(seqOf(third) ?? -1);
      expectOldest(null);
      insert('u2', 4000);
      insert('u1', 5000);
      expectOldest(4000);
      storage.deleteMessagesOf('u2');
      expectOldest(5000);
      storage.deleteAllMessages();
      expectOldest(null);
      insert('u1', 6000);
      expectOldest(6000);
    });
  });
});
