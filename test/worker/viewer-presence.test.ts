// Viewers are the players that signal presence, not the chat sockets (issue: "people watching with
// chat closed are missed, and chat bots count"): POST /channels/{id}/presence through the real
// Worker into the channel's ChatRoom, the room's 10 s sweep publishing the count to chat, the
// bounds that keep one script from inflating it, and the expiry of a player that stops signalling.
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ChatRoom } from '../../durable-objects/chat-room/chat-room.ts';
import { RoomStorage } from '../../durable-objects/chat-room/storage.ts';
import {
  MAX_ANONYMOUS_VIEWERS_PER_NETWORK,
  PRESENCE_TTL_MS,
  VideoPresence,
} from '../../durable-objects/chat-room/video-presence.ts';
import { ViewerCensus } from '../../durable-objects/chat-room/viewer-census.ts';
import { callApi, createTestIp, readError } from './api-helpers.ts';
import { goLive, openJson, seedUser } from './chat-fixtures.ts';

const StreamCounts = z.object({ viewer_count: z.number(), peak_viewers: z.number() });

/** Polls `read` every 50 ms until it answers, for at most 5 s (the viewer.count queue is async). */
async function waitUntil<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function randomViewerId(): string {
  return crypto.randomUUID().replaceAll('-', '');
}

function signal(channelId: string, options: { ip?: string; token?: string; viewerId?: string } = {}) {
  return callApi(`/channels/${channelId}/presence`, {
    method: 'POST',
    body: { viewer_id: options.viewerId ?? randomViewerId() },
    ...(options.ip === undefined ? {} : { ip: options.ip }),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
}

/** Runs the room's 10 s sweep now (time cannot be advanced in workerd). */
async function sweep(channelId: string): Promise<void> {
  await runInDurableObject(env.CHAT_ROOM.getByName(channelId), async (instance: ChatRoom) => {
    instance['lastSweepAt'] = 0;
    await instance.alarm();
  });
}

describe('viewer presence', () => {
  it('counts a player watching with chat closed, and not a chat socket that plays no video', async () => {
    const owner = await seedUser('own');
    await goLive(owner.channelId);
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    // A chat-only client (a bot): a chatter, not a viewer.
    const bot = await openJson(owner.channelId);
    await bot.next('history');
    const res = await signal(owner.channelId);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ heartbeat_ms: 20_000 });
    const stats = await room.readViewerStats();
    expect(stats.viewers).toBe(1);
    expect(stats.chatters).toBe(1);
    await sweep(owner.channelId);
    await bot.next('viewer_count', (frame) => frame.count === 1);
  });

  it('counts a signed-in viewer once across tabs and networks, and the unique viewers of the stream', async () => {
    const owner = await seedUser('own');
    const viewer = await seedUser('v');
    await goLive(owner.channelId);
    for (let tab = 0; tab < 3; tab++)
      expect((await signal(owner.channelId, { token: viewer.token, ip: createTestIp() })).status).toBe(200);
    expect((await signal(owner.channelId)).status).toBe(200);
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect((await room.readViewerStats()).viewers).toBe(2);
    await sweep(owner.channelId);
    expect((await room.readViewerStats()).uniqueViewers).toBe(2);
  });

  it('publishes the count to the live stream, whose peak_viewers keeps the most viewers seen at once', async () => {
    const owner = await seedUser('own');
    await goLive(owner.channelId);
    for (let i = 0; i < 3; i++) expect((await signal(owner.channelId)).status).toBe(200);
    await sweep(owner.channelId);
    const read = async () => {
      const res = await callApi(`/streams/${owner.channelId}/live`);
      return StreamCounts.parse(await res.json());
    };
    await waitUntil(async () => ((await read()).peak_viewers === 3 ? true : undefined), 'peak_viewers 3');
    const live = await read();
    expect(live.viewer_count).toBe(3);
  });

  it('refuses a script inflating the count from one network: hundreds of fresh viewer ids count as five', async () => {
    const owner = await seedUser('own');
    await goLive(owner.channelId);
    const attacker = createTestIp();
    const statuses = new Map<number, number>();
    for (let i = 0; i < 150; i++) {
      const res = await signal(owner.channelId, { ip: attacker });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      await res.body?.cancel();
    }
    expect(statuses.get(200)).toBe(MAX_ANONYMOUS_VIEWERS_PER_NETWORK);
    // Past the household's seats: refused (429 with Retry-After), then the network's request rate.
    expect((statuses.get(429) ?? 0) + MAX_ANONYMOUS_VIEWERS_PER_NETWORK).toBe(150);
    const refused = await signal(owner.channelId, { ip: attacker });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await readError(refused)).code).toBe('rate_limited');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    expect((await room.readViewerStats()).viewers).toBe(MAX_ANONYMOUS_VIEWERS_PER_NETWORK);
    // Another network is not affected.
    expect((await signal(owner.channelId)).status).toBe(200);
    expect((await room.readViewerStats()).viewers).toBe(MAX_ANONYMOUS_VIEWERS_PER_NETWORK + 1);
  });

  it('refuses an unknown channel (404), an offline one (409) and a malformed or oversized signal (400)', async () => {
    const owner = await seedUser('own');
    expect((await signal(crypto.randomUUID())).status).toBe(404);
    const offline = await signal(owner.channelId);
    expect(offline.status).toBe(409);
    expect((await readError(offline)).code).toBe('conflict');
    await goLive(owner.channelId);
    for (const body of [
      {},
      { viewer_id: 'short' },
      { viewer_id: 'x'.repeat(65) },
      { viewer_id: 'a b'.repeat(8) },
    ]) {
      const res = await callApi(`/channels/${owner.channelId}/presence`, { method: 'POST', body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const extra = await callApi(`/channels/${owner.channelId}/presence`, {
      method: 'POST',
      body: { viewer_id: randomViewerId(), padding: 'x'.repeat(10_000) },
    });
    expect(extra.status).toBe(400);
    expect((await env.CHAT_ROOM.getByName(owner.channelId).readViewerStats()).viewers).toBe(0);
  });
});

describe('the presence census', () => {
  it('forgets a player 45 s after its last signal, and frees its network seat', () => {
    const presence = new VideoPresence();
    const now = 1_000_000;
    for (let i = 0; i < MAX_ANONYMOUS_VIEWERS_PER_NETWORK; i++)
      expect(presence.see({ kind: 'anonymous', network: 'n1', viewerId: `id-${i}` }, now).kind).toBe(
        'counted',
      );
    expect(presence.see({ kind: 'anonymous', network: 'n1', viewerId: 'one-more' }, now).kind).toBe(
      'network-full',
    );
    // One keeps signalling; the others stop.
    presence.see({ kind: 'anonymous', network: 'n1', viewerId: 'id-0' }, now + 30_000);
    expect(presence.count(now + PRESENCE_TTL_MS)).toBe(MAX_ANONYMOUS_VIEWERS_PER_NETWORK);
    presence.sweep(now + PRESENCE_TTL_MS + 1);
    expect(presence.count(now + PRESENCE_TTL_MS + 1)).toBe(1);
    expect(presence.size).toBe(1);
    expect(presence.see({ kind: 'anonymous', network: 'n1', viewerId: 'one-more' }, now + 50_000).kind).toBe(
      'counted',
    );
  });
});

describe("the room's shard counts", () => {
  const ShardRow = z.object({ name: z.string(), count: z.number() });
  /** The shards table as stored: what a restarted room would start from. */
  async function storedShards(channelId: string): Promise<Record<string, number>> {
    return runInDurableObject(env.CHAT_ROOM.getByName(channelId), async (_instance: ChatRoom, state) =>
      Object.fromEntries(
        state.storage.sql
          .exec('SELECT name, count FROM shards')
          .toArray()
          .map((row) => {
            const { name, count } = ShardRow.parse(row);
            return [name, count];
          }),
      ),
    );
  }

  it('stores a shard when it starts holding sockets, and the counts of later joins and leaves at the sweep', async () => {
    // Two sockets per shard in the tests (vitest.workers.config.ts): three fill shard 0 and start 1.
    const owner = await seedUser('own');
    const [zero, one] = [`${owner.channelId}:0`, `${owner.channelId}:1`];
    const first = await openJson(owner.channelId);
    await first.next('history');
    // The first join schedules the room's sweep at once; run it now so it cannot land mid-test.
    await sweep(owner.channelId);
    expect(await storedShards(owner.channelId)).toEqual({ [zero]: 1 });
    const others = [await openJson(owner.channelId), await openJson(owner.channelId)];
    for (const socket of others) await socket.next('history');
    const room = env.CHAT_ROOM.getByName(owner.channelId);
    // Counted at once; the second join on shard 0 is written at the sweep, not on its own commit.
    expect((await room.readViewerStats()).shards).toEqual({ [zero]: 2, [one]: 1 });
    expect(await storedShards(owner.channelId)).toEqual({ [zero]: 1, [one]: 1 });
    await sweep(owner.channelId);
    expect(await storedShards(owner.channelId)).toEqual({ [zero]: 2, [one]: 1 });
    for (const socket of [first, ...others]) socket.close();
    // A shard left empty is written at once: the fan-out must not go on targeting it after a restart.
    await waitUntil(async () => {
      const stored = await storedShards(owner.channelId);
      return !stored[zero] && !stored[one] ? true : undefined;
    }, 'the emptied shards to be stored');
  });

  it('keeps a restored shard in the fan-out until it reports, though leaves outrun its stored count', async () => {
    const owner = await seedUser('own');
    const zero = `${owner.channelId}:0`;
    const first = await openJson(owner.channelId);
    await first.next('history');
    await sweep(owner.channelId);
    const second = await openJson(owner.channelId);
    await second.next('history');
    const sockets = [first, second];
    await runInDurableObject(env.CHAT_ROOM.getByName(owner.channelId), async (_instance: ChatRoom, state) => {
      // What a restarted room starts from: shard 0 stored with 1 socket while it holds 2.
      const restored = new ViewerCensus(new RoomStorage(state.storage.sql));
      restored.load();
      const now = Date.now();
      restored.leave(zero);
      // One socket is still there: the shard must still be sent messages.
      expect(restored.listActiveShards(now)).toEqual([zero]);
      // Its report is the truth again; then its last leave empties it.
      restored.report(zero, 1, now);
      restored.leave(zero);
      expect(restored.listActiveShards(now)).toEqual([]);
    });
    for (const socket of sockets) socket.close();
  });
});
