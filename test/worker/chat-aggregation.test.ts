// The top-channel design (docs/capacity.md, "shards pre-aggregate, a relay level"): a shard sends
// its users' messages to the room in batches, one call in flight per channel; past the relay group
// size the room calls one shard per group and that shard forwards the batch to the rest; shards
// past the first group send their messages through their group's first shard. The chat
// tests run with CHAT_SOCKETS_PER_SHARD=2 and CHAT_RELAY_GROUP_SIZE=3 (vitest.workers.config.ts),
// so every test with more than three shards also goes through relays.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  isShardOfChannel,
  MAX_RELAY_FORWARDS,
  planFanout,
  submitRelayFor,
} from '../../durable-objects/chat/shard-fanout.ts';
import { MAX_SUBMIT_BATCH, type SubmitResult } from '../../durable-objects/chat/types.ts';
import { MAX_WAITING_SUBMITS, SubmitBatcher } from '../../durable-objects/chat-shard/submit-batcher.ts';
import { grantRole, openJson, type SeededUser, seedUser } from './chat-fixtures.ts';

function accepted(n: number): SubmitResult {
  const user = { id: `u${n}`, name: 'x', display_name: 'x', color: '#FF0000', badges: [] };
  return { kind: 'accepted', messageId: `m${n}`, user };
}

describe('shard to room: messages pre-aggregated per round trip', () => {
  it('sends a lone message at once and whatever arrives during a call as one next call, answers in order', async () => {
    const calls: string[][] = [];
    let release: () => void = () => {};
    const batcher = new SubmitBatcher(async (requests) => {
      calls.push(requests.map((r) => r.content));
      if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return requests.map((r) => accepted(Number(r.content)));
    });
    const first = batcher.submit({ session: null, content: '0' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual([['0']]);
    const rest = Array.from({ length: 50 }, (_, i) =>
      batcher.submit({ session: null, content: String(i + 1) }),
    );
    release();
    const results = await Promise.all([first, ...rest]);
    expect(calls.length).toBe(2);
    expect(calls[1]).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    expect(results.map((r) => (r.kind === 'accepted' ? r.messageId : r.kind))).toEqual(
      Array.from({ length: 51 }, (_, i) => `m${i}`),
    );
    expect(batcher.busy).toBe(false);
  });

  it('bounds a call and the queue: past MAX_WAITING_SUBMITS a message is refused as busy at once', async () => {
    const sizes: number[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = new SubmitBatcher(async (requests) => {
      sizes.push(requests.length);
      await gate;
      return requests.map((_, i) => accepted(i));
    });
    const inFlight = batcher.submit({ session: null, content: 'first' });
    const waiting = Array.from({ length: MAX_WAITING_SUBMITS }, () =>
      batcher.submit({ session: null, content: 'w' }),
    );
    const refused = await batcher.submit({ session: null, content: 'one too many' });
    expect(refused).toMatchObject({ kind: 'error', code: 'rate_limited', retryAfterMs: 1000 });
    release();
    await Promise.all([inFlight, ...waiting]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_SUBMIT_BATCH);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1 + MAX_WAITING_SUBMITS);
  });

  it('fails only the messages of a call that failed; the next call goes on', async () => {
    let n = 0;
    const batcher = new SubmitBatcher(async (requests) => {
      n++;
      if (n === 1) throw new Error('room unreachable');
      return requests.map((_, i) => accepted(i));
    });
    await expect(batcher.submit({ session: null, content: 'lost' })).rejects.toThrow('room unreachable');
    await expect(batcher.submit({ session: null, content: 'fine' })).resolves.toMatchObject({
      kind: 'accepted',
    });
  });

  it('the room answers a batch message by message, as submit would, and refuses past the bound', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    const ownerSession = { userId: owner.id, login: owner.name };
    const viewerSession = { userId: viewer.id, login: viewer.name };
    const requests = [
      { session: ownerSession, content: 'hello from the owner' },
      { session: null, content: 'anonymous' },
      { session: viewerSession, content: 'line\r\nPRIVMSG #x :forged' },
      { session: viewerSession, content: 'first from the viewer' },
      // The room's own rule (one message per 1.5 s) still applies inside one batch.
      { session: viewerSession, content: 'second too soon' },
      ...Array.from({ length: MAX_SUBMIT_BATCH }, (_, i) => ({
        session: ownerSession,
        content: `owner ${i}`,
      })),
    ];
    const results = await room.submitBatch(owner.channelId, requests);
    expect(results).toHaveLength(requests.length);
    expect(results[0]).toMatchObject({ kind: 'accepted' });
    expect(results[1]).toMatchObject({ kind: 'error', code: 'unauthorized' });
    expect(results[2]).toMatchObject({ kind: 'error', code: 'invalid_message' });
    expect(results[3]).toMatchObject({ kind: 'accepted' });
    expect(results[4]).toMatchObject({ kind: 'error', code: 'rate_limited' });
    expect(results.at(-1)).toMatchObject({ kind: 'error', code: 'invalid_frame' });
    expect(results.filter((r) => r.kind === 'error' && r.code === 'invalid_frame')).toHaveLength(5);
  });

  it('sockets of one shard typing at once: every message delivered, each socket’s order kept', async () => {
    const owner = await seedUser('own');
    const mods: SeededUser[] = [];
    for (let i = 0; i < 2; i++) {
      const mod = await seedUser('mod');
      await grantRole(owner.channelId, mod.id, 'moderator');
      mods.push(mod);
    }
    // Two sockets per shard: the owner's and a moderator's share shard 0.
    const reader = await openJson(owner.channelId, mods[1]?.token);
    const a = await openJson(owner.channelId, owner.token);
    const b = await openJson(owner.channelId, mods[0]?.token);
    const sent = ['a1', 'b1', 'a2', 'b2', 'a3', 'b3'];
    for (const content of sent) (content.startsWith('a') ? a : b).say(owner.channelId, content);
    for (const content of sent) await reader.next('chat_message', (m) => m.content === content, 5000);
    // Each socket's own order is kept.
    const seen = reader.messages().map((m) => m.content);
    expect(seen.filter((c) => c.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(seen.filter((c) => c.startsWith('b'))).toEqual(['b1', 'b2', 'b3']);
  });
});

describe('room to shards through relays', () => {
  it('plans one call per group past the group size, each group led by its first shard', () => {
    const names = Array.from({ length: 7 }, (_, i) => `c:${i}`);
    expect(planFanout(names.slice(0, 3), 3)).toEqual(
      names.slice(0, 3).map((shard) => ({ shard, forward: [] })),
    );
    expect(planFanout(names, 3)).toEqual([
      { shard: 'c:0', forward: ['c:1', 'c:2'] },
      { shard: 'c:3', forward: ['c:4', 'c:5'] },
      { shard: 'c:6', forward: [] },
    ]);
    // 400 shards (a 200,000-viewer room) at the default size of 20: 20 calls a batch.
    const big = planFanout(
      Array.from({ length: 400 }, (_, i) => `c:${i}`),
      20,
    );
    expect(big).toHaveLength(20);
    expect(big.every((t) => t.forward.length === 19)).toBe(true);
    // A group size larger than the shard count calls every shard directly.
    expect(planFanout(names, 10_000)).toHaveLength(7);
    expect(
      planFanout(
        Array.from({ length: 500 }, (_, i) => `c:${i}`),
        10_000,
      )[0]?.forward.length,
    ).toBe(MAX_RELAY_FORWARDS);
  });

  it('every socket of a room with more shards than the group size gets every message, in order', async () => {
    const owner = await seedUser('own');
    const viewers = await Promise.all(Array.from({ length: 9 }, () => seedUser('v')));
    // 2 sockets per shard: 10 sockets fill shards 0..4, more than the test group size of 3.
    const writer = await openJson(owner.channelId, owner.token);
    const readers = [];
    for (const v of viewers) readers.push(await openJson(owner.channelId, v.token));
    const shards = await runInDurableObject(env.CHAT_ROOM.getByName(owner.channelId), (room) =>
      room.readViewerStats(),
    );
    expect(Object.keys(shards.shards).length).toBeGreaterThan(3);
    for (const content of ['one', 'two', 'three']) writer.say(owner.channelId, content);
    for (const reader of readers) {
      await reader.next('chat_message', (m) => m.content === 'three', 5000);
      expect(reader.messages().map((m) => m.content)).toEqual(['one', 'two', 'three']);
    }
    // The last socket sits in shard 4, past the first group of 3: its message goes through shard 3
    // (submitRelayFor) on its way to the room, and comes back to everyone.
    const last = readers.at(-1);
    last?.say(owner.channelId, 'from the last shard');
    const heard = await writer.next('chat_message', (m) => m.content === 'from the last shard', 5000);
    expect(heard.user.id).toBe(viewers.at(-1)?.id);
    await readers[0]?.next('chat_message', (m) => m.content === 'from the last shard', 5000);
  });

  it('sends a shard’s messages to the room directly in the first group and through its group’s first shard after', () => {
    const c = crypto.randomUUID();
    expect(submitRelayFor(`${c}:0`, c, 3)).toBeNull();
    expect(submitRelayFor(`${c}:2`, c, 3)).toBeNull();
    expect(submitRelayFor(`${c}:3`, c, 3)).toBeNull();
    expect(submitRelayFor(`${c}:4`, c, 3)).toBe(`${c}:3`);
    expect(submitRelayFor(`${c}:8`, c, 3)).toBe(`${c}:6`);
    expect(submitRelayFor(`${c}:419`, c, 20)).toBe(`${c}:400`);
    expect(submitRelayFor('irc:7', c, 3)).toBeNull();
    expect(submitRelayFor('', c, 3)).toBeNull();
  });

  it('a relay forwards only to shards of the batch’s own channel or the IRC pool', () => {
    const channelId = crypto.randomUUID();
    expect(isShardOfChannel(`${channelId}:12`, channelId)).toBe(true);
    expect(isShardOfChannel('irc:3', channelId)).toBe(true);
    for (const name of [
      `${crypto.randomUUID()}:0`,
      'ChatRoom',
      `${channelId}:../x`,
      `${channelId}:`,
      'irc:',
      `${channelId}:1234567`,
    ])
      expect(isShardOfChannel(name, channelId)).toBe(false);
  });
});
