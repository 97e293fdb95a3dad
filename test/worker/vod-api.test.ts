// The VOD API (one VOD, a channel's list with cursors, errors) and chat replay: chat.messages
// batches archived through the stream-events queue, offsets from the VOD's clock, and deleted
// messages and banned or timed-out users left out.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../protocol/events.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { callApi, readError } from './api-helpers.ts';
import {
  deliver,
  deliverStreamEnded,
  endSyntheticStream,
  listKeys,
  type SyntheticStream,
  startSyntheticStream,
} from './vod-fixtures.ts';

async function makeVod(options: { reconnectAfter?: number } = {}) {
  const stream = await startSyntheticStream(['720p60'], 6, options);
  await endSyntheticStream(stream);
  await deliverStreamEnded(stream, 12);
  return { stream, vodId: await deriveVodId(stream.streamId) };
}

function chatMessage(
  stream: SyntheticStream,
  id: string,
  userId: string,
  atSeconds: number,
  content = `message ${id}`,
) {
  return {
    id,
    user_id: userId,
    user_name: `user_${userId.slice(0, 4)}`,
    display_name: `User ${userId.slice(0, 4)}`,
    color: '#FF0000',
    badges: [{ id: 'subscriber', version: '3' }],
    emotes: [],
    content,
    sent_at: stream.startPdt + atSeconds * 1000,
  };
}

interface ReplayBody {
  messages: Array<{
    id: string;
    offset_seconds: number;
    user: { id: string; display_name: string };
    content: string;
  }>;
}

describe('VOD API', () => {
  it('returns a VOD with playback and DASH URLs, and 404 for an unknown one', async () => {
    const { stream, vodId } = await makeVod();
    const res = await callApi(`/vods/${vodId}`);
    expect(res.status).toBe(200);
    const vod = (await res.json()) as Record<string, unknown>;
    expect(vod).toMatchObject({
      id: vodId,
      stream_id: stream.streamId,
      channel_id: stream.channel.channelId,
      title: 'Default title',
      duration_seconds: 12,
      playback_url: `http://localhost/vod/${vodId}/master.m3u8`,
      dash_url: `http://localhost/vod/${vodId}/manifest.mpd`,
      view_count: 0,
    });
    expect(Date.parse(String(vod.expires_at)) - Date.parse(String(vod.created_at))).toBe(60 * 86_400_000);
    const missing = await callApi(`/vods/${crypto.randomUUID()}`);
    expect(missing.status).toBe(404);
    expect((await readError(missing)).code).toBe('not_found');
  });

  it("lists a channel's VODs newest first with a cursor", async () => {
    const { stream } = await makeVod();
    const channelId = stream.channel.channelId;
    // Two more VOD rows of the same channel (their media is not needed to list them).
    for (const [i, createdAt] of [1, 2].map((n) => [n, Date.now() + n * 1000] as const)) {
      const streamId = crypto.randomUUID();
      await env.DB.batch([
        env.DB.prepare(
          "INSERT INTO streams (id, channel_id, status, created_at) VALUES (?, ?, 'ended', ?)",
        ).bind(streamId, channelId, createdAt),
        env.DB.prepare(
          'INSERT INTO vods (id, stream_id, channel_id, title, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
        ).bind(crypto.randomUUID(), streamId, channelId, `later ${i}`, createdAt, createdAt + 1000),
      ]);
    }
    const first = (await (await callApi(`/channels/${channelId}/vods?limit=2`)).json()) as {
      data: { title: string }[];
      cursor: string | null;
    };
    expect(first.data.map((v) => v.title)).toEqual(['later 2', 'later 1']);
    const second = (await (
      await callApi(`/channels/${channelId}/vods?limit=2&cursor=${first.cursor}`)
    ).json()) as {
      data: { title: string }[];
      cursor: string | null;
    };
    expect(second.data.map((v) => v.title)).toEqual(['Default title']);
    expect(second.cursor).toBeNull();
    expect((await callApi(`/channels/${channelId}/vods?cursor=garbage`)).status).toBe(400);
    expect((await callApi(`/channels/${crypto.randomUUID()}/vods`)).status).toBe(404);
  });

  it('replays archived chat with offsets into the VOD, without deleted messages or banned users', async () => {
    const { stream, vodId } = await makeVod();
    const [alice, bob, carol] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const channelId = stream.channel.channelId;
    const batch1 = createEvent('chat.messages', {
      channel_id: channelId,
      stream_id: stream.streamId,
      messages: [
        chatMessage(stream, 'm1', alice, 1),
        chatMessage(stream, 'm2', bob, 2),
        chatMessage(stream, 'm3', alice, 3),
      ],
    });
    // The second batch names no stream: it is matched to the stream live at its first message.
    // (The fixture backdates its media; a real stream goes live at its first sample.)
    await env.DB.prepare('UPDATE streams SET started_at = ? WHERE id = ?')
      .bind(stream.startPdt, stream.streamId)
      .run();
    const batch2 = createEvent('chat.messages', {
      channel_id: channelId,
      stream_id: null,
      messages: [chatMessage(stream, 'm4', carol, 8), chatMessage(stream, 'm5', alice, 10.5)],
    });
    await deliver('stream-events', [batch1, batch2, batch1]);
    expect(await listKeys(`chat/${stream.streamId}/`)).toHaveLength(2);

    const all = (await (await callApi(`/vods/${vodId}/chat?from=0&to=12`)).json()) as ReplayBody;
    expect(all.messages.map((m) => [m.id, m.offset_seconds])).toEqual([
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
      ['m4', 8],
      ['m5', 10.5],
    ]);
    expect(all.messages[0]?.user.display_name).toBe(`User ${alice.slice(0, 4)}`);

    const window = (await (await callApi(`/vods/${vodId}/chat?from=2.5&to=9`)).json()) as ReplayBody;
    expect(window.messages.map((m) => m.id)).toEqual(['m3', 'm4']);

    await deliver('stream-events', [
      createEvent('chat.message_deleted', { channel_id: channelId, message_id: 'm2' }),
    ]);
    await env.DB.batch([
      env.DB.prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').bind(
        carol,
        `carol${carol.slice(0, 6)}`,
        'x',
        0,
      ),
      env.DB.prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').bind(
        alice,
        `alice${alice.slice(0, 6)}`,
        'x',
        0,
      ),
    ]);
    // Carol is banned; Alice got a timeout at second 5, which clears what she said before it only.
    await deliver('moderation-events', [
      createEvent('moderation.ban', {
        channel_id: channelId,
        user_id: carol,
        moderator_id: null,
        reason: 'spam',
        expires_at: null,
      }),
      createEvent(
        'moderation.ban',
        {
          channel_id: channelId,
          user_id: alice,
          moderator_id: null,
          reason: 'calm down',
          expires_at: stream.startPdt + 600_000,
        },
        stream.startPdt + 5000,
      ),
    ]);
    const filtered = (await (await callApi(`/vods/${vodId}/chat?from=0&to=12`)).json()) as ReplayBody;
    expect(filtered.messages.map((m) => m.id)).toEqual(['m5']);
  });

  it('maps chat after a reconnect to the VOD position, not to the wall clock', async () => {
    const { stream, vodId } = await makeVod({ reconnectAfter: 3 });
    // The reconnect left a 5 s hole in the wall clock after second 6 of media.
    const message = {
      ...chatMessage(stream, 'late', crypto.randomUUID(), 12),
      sent_at: stream.startPdt + 6000 + 5000 + 1000,
    };
    await deliver('stream-events', [
      createEvent('chat.messages', {
        channel_id: stream.channel.channelId,
        stream_id: stream.streamId,
        messages: [message],
      }),
    ]);
    const replay = (await (await callApi(`/vods/${vodId}/chat?from=0&to=12`)).json()) as ReplayBody;
    expect(replay.messages.map((m) => [m.id, m.offset_seconds])).toEqual([['late', 7]]);
  });

  it('rejects a replay window that is empty or longer than an hour', async () => {
    const { vodId } = await makeVod();
    expect((await callApi(`/vods/${vodId}/chat?from=10&to=5`)).status).toBe(400);
    expect((await callApi(`/vods/${vodId}/chat?from=0&to=4000`)).status).toBe(400);
    expect((await callApi(`/vods/${vodId}/chat?from=-1`)).status).toBe(400);
    expect((await callApi(`/vods/${crypto.randomUUID()}/chat`)).status).toBe(404);
  });
});
