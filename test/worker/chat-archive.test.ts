// The chat room's archive duty under poison input (docs/security.md, "poison chat-archive batch"):
// messages whose escaped JSON outgrows a queue message, a row too big to send at all, a row that
// no longer parses. None of them may stop the archive for good, and none may stop the viewer
// census that runs in the same alarm. Miniflare's queue refuses messages over 128 KB, as Queues do.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { MAX_ARCHIVE_EVENT_BYTES, splitByBytes } from '../../durable-objects/chat-room/archive.ts';
import type { ChatRoom } from '../../durable-objects/chat-room/chat-room.ts';
import { buildMessage, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';

/** Stores messages straight into the room's history, as rows written before any filter would be. */
async function storeRows(owner: SeededUser, rows: { id: string; frame: string }[], sentAt: number) {
  await runInDurableObject(env.CHAT_ROOM.getByName(owner.channelId), (_instance, state) => {
    for (const row of rows) {
      state.storage.sql.exec(
        'INSERT INTO messages (id, user_id, login, frame, sent_at) VALUES (?, ?, ?, ?, ?)',
        row.id,
        owner.id,
        owner.name,
        row.frame,
        sentAt,
      );
    }
  });
}

function readArchivedSeq(owner: SeededUser): Promise<{ archived: number; last: number }> {
  return runInDurableObject(env.CHAT_ROOM.getByName(owner.channelId), (_instance, state) => {
    const meta = state.storage.sql.exec("SELECT value FROM meta WHERE key = 'archived_seq'").toArray()[0];
    const last = state.storage.sql.exec('SELECT max(seq) AS n FROM messages').one();
    return { archived: Number(meta?.value ?? 0), last: Number(last.n ?? 0) };
  });
}

/** Runs the room's alarm with the 10 s census due, and reports whether it threw. */
function runAlarm(owner: SeededUser): Promise<string | null> {
  return runInDurableObject(env.CHAT_ROOM.getByName(owner.channelId), async (instance: ChatRoom) => {
    instance['lastSweepAt'] = 0;
    try {
      await instance.alarm();
      return null;
    } catch (error) {
      return String(error);
    }
  });
}

describe('poison chat-archive batches', () => {
  it('archives 100 messages of escaped control characters in events under the queue limit, and the census still runs', async () => {
    const owner = await seedUser('own');
    const viewer = await openJson(owner.channelId);
    // 500 control characters escape to 3,000 bytes of JSON: 100 of them are ~300 KB, over 128 KB.
    const rows = Array.from({ length: 100 }, () => {
      const message = buildMessage(owner.channelId, owner, '\u0001'.repeat(500));
      return { id: message.id, frame: JSON.stringify(message) };
    });
    await storeRows(owner, rows, Date.now() - 10_000);
    expect(await runAlarm(owner)).toBeNull();
    const { archived, last } = await readArchivedSeq(owner);
    expect(archived).toBe(last);
    await viewer.next('viewer_count');
    const deadLetters = await env.DB.prepare(
      "SELECT count(*) AS n FROM dead_letters WHERE id LIKE 'chat-archive:%'",
    ).first<{ n: number }>();
    expect(deadLetters?.n ?? 0).toBe(0);
  });

  it('dead-letters a message that cannot fit one queue message and a row that no longer parses, and goes on', async () => {
    const owner = await seedUser('own');
    const viewer = await openJson(owner.channelId);
    const huge = buildMessage(owner.channelId, owner, 'x'.repeat(120_000));
    const fine = buildMessage(owner.channelId, owner, 'after the poison');
    await storeRows(
      owner,
      [
        { id: huge.id, frame: JSON.stringify(huge) },
        { id: crypto.randomUUID(), frame: '{not json' },
        { id: fine.id, frame: JSON.stringify(fine) },
      ],
      Date.now() - 10_000,
    );
    expect(await runAlarm(owner)).toBeNull();
    const { archived, last } = await readArchivedSeq(owner);
    expect(archived).toBe(last);
    const dead = await env.DB.prepare('SELECT id, queue FROM dead_letters WHERE id = ? OR instr(id, ?) = 1')
      .bind(`chat-archive:${huge.id}`, `chat-archive:seq:${owner.channelId}:`)
      .all<{ id: string; queue: string }>();
    expect(dead.results).toHaveLength(2);
    expect(dead.results.every((row) => row.queue === 'stream-events')).toBe(true);
    await viewer.next('viewer_count');
    // History for joiners leaves the unreadable row out instead of failing every join.
    const late = await openJson(owner.channelId);
    expect((await late.next('history')).messages.map((m) => m.content)).toContain('after the poison');
  });

  it('cuts a batch by bytes, in order, with every event under the budget', () => {
    const messages = Array.from({ length: 100 }, (_, i) => ({
      id: `m${i}`,
      user_id: 'u',
      user_name: 'u',
      content: '\u0001'.repeat(500),
      sent_at: i,
    }));
    const { groups, oversized } = splitByBytes(messages, MAX_ARCHIVE_EVENT_BYTES);
    expect(oversized).toEqual([]);
    expect(groups.length).toBeGreaterThan(2);
    expect(groups.flat().map((m) => m.id)).toEqual(messages.map((m) => m.id));
    for (const group of groups)
      expect(new TextEncoder().encode(JSON.stringify({ messages: group })).byteLength).toBeLessThan(
        MAX_ARCHIVE_EVENT_BYTES,
      );
  });
});
