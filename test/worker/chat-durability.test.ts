import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { BatchPayloads, SAMPLE_VARIANTS } from '../../durable-objects/chat/batch-payloads.ts';
import { HyperLogLog } from '../../durable-objects/chat/hyperloglog.ts';
import {
  computeSampleBudget,
  MAX_MESSAGES_PER_VIEWER_PER_SECOND,
  pickSample,
} from '../../durable-objects/chat/sampling.ts';
import { planFanout, RELAY_GROUP_SIZE, ShardFanout } from '../../durable-objects/chat/shard-fanout.ts';
import type { FanoutBatch, FanoutEvent } from '../../durable-objects/chat/types.ts';
import type { ChatRoom } from '../../durable-objects/chat-room/chat-room.ts';
import { buildMessage, describeChannel, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';

describe('hibernation and eviction', () => {
  it('keeps sockets and their attachments across a shard eviction, and they still receive messages', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const reader = await openJson(owner.channelId, viewer.token);
    const shard = env.CHAT_SHARD.getByName(`${owner.channelId}:0`);
    await evictDurableObject(shard, { webSockets: 'hibernate' });
    const attachments = await runInDurableObject(shard, (_instance, state) =>
      state
        .getWebSockets()
        .map(
          (ws) =>
            ws.deserializeAttachment() as { user: { userId: string } | null; channels: { id: string }[] },
        ),
    );
    expect(attachments).toContainEqual(
      expect.objectContaining({ user: expect.objectContaining({ userId: viewer.id }) }),
    );
    expect(attachments.every((a) => a.channels[0]?.id === owner.channelId)).toBe(true);
    const writer = await openJson(owner.channelId, owner.token);
    writer.say(owner.channelId, 'after hibernation');
    await reader.next('chat_message', (m) => m.content === 'after hibernation');
    // The woken socket still sends as its user.
    reader.say(owner.channelId, 'me again');
    expect((await writer.next('chat_message', (m) => m.content === 'me again')).user.id).toBe(viewer.id);
  });

  it('keeps bans, settings and history across a room eviction', async () => {
    const owner = await seedUser('own');
    const troll = await seedUser('troll');
    const b = await openJson(owner.channelId, owner.token);
    b.say(owner.channelId, 'remember me');
    b.say(owner.channelId, `/ban ${troll.name}`);
    b.say(owner.channelId, '/emoteonly');
    await b.next('notice', (n) => n.code === 'emote_only_on');
    await evictDurableObject(env.CHAT_ROOM.getByName(owner.channelId));
    const late = await openJson(owner.channelId, troll.token);
    expect((await late.next('history')).messages.map((m) => m.content)).toEqual(['remember me']);
    expect((await late.next('welcome')).room_state.emote_only).toBe(true);
    late.say(owner.channelId, 'unbanned?');
    expect(await late.next('error')).toMatchObject({ code: 'banned' });
  });
});

describe('scale', () => {
  it('opens a new shard when one is full', async () => {
    // vitest.workers.config.ts sets CHAT_SOCKETS_PER_SHARD to 2 for every chat test.
    expect(env.CHAT_SOCKETS_PER_SHARD).toBe('2');
    const owner = await seedUser('own');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const sockets = [];
    for (let i = 0; i < 5; i++) sockets.push(await openJson(owner.channelId));
    const stats = await room.readViewerStats();
    expect(stats.shards).toEqual({
      [`${owner.channelId}:0`]: 2,
      [`${owner.channelId}:1`]: 2,
      [`${owner.channelId}:2`]: 1,
    });
    expect(stats.chatters).toBe(5);
    // Every shard gets the batch.
    const writer = await openJson(owner.channelId, owner.token);
    writer.say(owner.channelId, 'to all shards');
    for (const socket of sockets) await socket.next('chat_message', (m) => m.content === 'to all shards');
  });

  it('samples a hot chat down to 20 messages a second per viewer, and the broadcaster always gets through', async () => {
    const owner = await seedUser('own');
    const chatters = await Promise.all(Array.from({ length: 45 }, () => seedUser('c')));
    const reader = await openJson(owner.channelId);
    const sockets = [];
    for (const chatter of chatters) sockets.push(await openJson(owner.channelId, chatter.token));
    const broadcaster = await openJson(owner.channelId, owner.token);
    // Idle room: let the first batch window start now, so all 45 land in one or two batches.
    sockets.forEach((socket, i) => {
      socket.say(owner.channelId, `burst ${i}`);
    });
    broadcaster.say(owner.channelId, 'broadcaster in the storm');
    await reader.next('chat_message', (m) => m.content === 'broadcaster in the storm');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const seen = reader.messages().filter((m) => m.content.startsWith('burst '));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(45);
    expect(seen.length).toBeLessThanOrEqual(MAX_MESSAGES_PER_VIEWER_PER_SECOND * 2);
    // Each sender still sees their own message.
    for (const [i, socket] of sockets.entries())
      await socket.next('chat_message', (m) => m.content === `burst ${i}`);
  });

  it('picks distinct, ordered samples and everything when the batch fits', () => {
    expect(pickSample(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const sample = pickSample(100, 20);
    expect(sample).toHaveLength(20);
    expect(new Set(sample).size).toBe(20);
    expect([...sample].sort((a, b) => a - b)).toEqual(sample);
  });

  it('renders each event once and at most one payload per sampling variant, however many sockets', async () => {
    const owner = await seedUser('own');
    const { batch, contents } = buildHotBatch(owner, 100);
    let rendered = 0;
    const payloads = new BatchPayloads(batch, {
      renderJson: (event) => {
        rendered++;
        return JSON.stringify(event.kind === 'message' ? event.message : { type: 'clear_chat' });
      },
      renderIrc: () => null,
    });
    const distinct = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const payload = payloads.payloadFor({ protocol: 'json', userId: null });
      if (payload !== null) distinct.add(payload);
    }
    expect(distinct.size).toBeGreaterThan(1);
    expect(distinct.size).toBeLessThanOrEqual(SAMPLE_VARIANTS);
    expect(rendered).toBeLessThanOrEqual(batch.events.length);
    for (const payload of distinct) {
      const seen = readContents(payload);
      // The broadcaster's message passes every sample; the rest are the viewer's budget.
      expect(seen).toContain('from the broadcaster');
      expect(seen).toHaveLength(computeSampleBudget(batch.windowMs) + 1);
      expect(seen.map((c) => contents.indexOf(c))).toEqual(
        [...seen.map((c) => contents.indexOf(c))].sort((a, b) => a - b),
      );
    }
  });

  it('gives a JSON sender their own sampled-out message and an IRC sender never their own', async () => {
    const owner = await seedUser('own');
    const chatter = await seedUser('c');
    const { batch } = buildHotBatch(owner, 100);
    const own = buildMessage(owner.channelId, chatter, 'my own words');
    batch.events.push({ kind: 'message', message: own, priority: false });
    const payloads = new BatchPayloads(batch, {
      renderJson: (event) => JSON.stringify(event.kind === 'message' ? event.message : {}),
      renderIrc: (event) => (event.kind === 'message' ? `PRIVMSG #x :${event.message.content}` : null),
    });
    for (let i = 0; i < 20; i++) {
      expect(readContents(payloads.payloadFor({ protocol: 'json', userId: chatter.id }) ?? '')).toContain(
        'my own words',
      );
      expect(payloads.payloadFor({ protocol: 'irc', userId: chatter.id })).not.toContain('my own words');
    }
  });
});

describe('room to shard fan-out', () => {
  it('keeps one delivery in flight per shard and merges what the room flushes meanwhile, in order', async () => {
    const owner = await seedUser('own');
    const delivered: { shard: string; contents: string[]; windowMs: number }[] = [];
    let release: () => void = () => {};
    const fanout = new ShardFanout(
      async (shard, batch) => {
        delivered.push({
          shard,
          contents: batch.events.flatMap((e) => (e.kind === 'message' ? [e.message.content] : [])),
          windowMs: batch.windowMs,
        });
        // The first delivery to shard a is slow: the room goes on flushing meanwhile.
        if (shard === 'a' && delivered.filter((d) => d.shard === 'a').length === 1)
          await new Promise<void>((resolve) => {
            release = resolve;
          });
      },
      () => {},
    );
    const batchOf = (content: string) => ({
      channel: describeChannel(owner),
      windowMs: 100,
      events: [
        { kind: 'message' as const, message: buildMessage(owner.channelId, owner, content), priority: false },
      ],
    });
    fanout.send(planFanout(['a', 'b'], RELAY_GROUP_SIZE), batchOf('one'));
    fanout.send(planFanout(['a', 'b'], RELAY_GROUP_SIZE), batchOf('two'));
    fanout.send(planFanout(['a'], RELAY_GROUP_SIZE), batchOf('three'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // b is not held back by a; a has had only its first batch.
    expect(delivered.filter((d) => d.shard === 'a').map((d) => d.contents)).toEqual([['one']]);
    expect(delivered.filter((d) => d.shard === 'b').map((d) => d.contents)).toEqual([['one'], ['two']]);
    release();
    await fanout.settle();
    expect(delivered.filter((d) => d.shard === 'a')).toEqual([
      { shard: 'a', contents: ['one'], windowMs: 100 },
      { shard: 'a', contents: ['two', 'three'], windowMs: 200 },
    ]);
  });
});

/** A batch far over a viewer's budget: `count` chatter messages plus one from the broadcaster. */
function buildHotBatch(owner: SeededUser, count: number): { batch: FanoutBatch; contents: string[] } {
  const contents = Array.from({ length: count }, (_, i) => `hot ${i}`);
  contents.splice(count / 2, 0, 'from the broadcaster');
  const events: FanoutEvent[] = contents.map((content) => ({
    kind: 'message',
    message: buildMessage(owner.channelId, { ...owner, id: `chatter-${content}` }, content),
    priority: content === 'from the broadcaster',
  }));
  return { batch: { channel: describeChannel(owner), windowMs: 100, events }, contents };
}

function readContents(payload: string): string[] {
  return [...payload.matchAll(/"content":"([^"]*)"/g)].map((match) => match[1] ?? '');
}

describe('viewer counts', () => {
  it('sums shard reports into the chatter count, and unique viewers count each person once', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    await openJson(owner.channelId, viewer.token);
    await openJson(owner.channelId, viewer.token);
    await openJson(owner.channelId);
    const shard = env.CHAT_SHARD.getByName(`${owner.channelId}:0`);
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    await runInDurableObject(room, async (instance: ChatRoom) => {
      // Time cannot be fast-forwarded in workerd: make the 10 s census due now.
      instance['lastSweepAt'] = 0;
      await instance.alarm();
    });
    const stats = await room.readViewerStats();
    expect(stats.chatters).toBe(3);
    // Chat sockets are chatters; viewers are players that signal presence (viewer-presence.test.ts).
    expect(stats.viewers).toBe(0);
    expect(stats.uniqueViewers).toBe(2);
  });

  it('estimates distinct values within a few percent with a HyperLogLog of 4096 registers', () => {
    const sketch = new HyperLogLog();
    for (let i = 0; i < 20_000; i++) sketch.add(`user-${i}`);
    for (let i = 0; i < 20_000; i++) sketch.add(`user-${i}`);
    const estimate = sketch.count();
    expect(Math.abs(estimate - 20_000) / 20_000).toBeLessThan(0.05);
    const copy = new HyperLogLog(new Uint8Array(sketch.registers));
    expect(copy.count()).toBe(estimate);
  });

  it('stops counting a shard whose report is older than 30 s', async () => {
    const owner = await seedUser('own');
    await openJson(owner.channelId);
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect((await room.readViewerStats()).chatters).toBe(1);
    await runInDurableObject(room, (_instance, state) => {
      state.storage.sql.exec('UPDATE shards SET reported_at = ?', Date.now() - 31_000);
    });
    await evictDurableObject(room);
    expect((await room.readViewerStats()).chatters).toBe(0);
  });
});
