// Auto-host: the owner keeps an ordered list of channels; while the channel is offline, anyone asking
// gets the first live one of it (and nothing while the channel itself is live). Bad lists are
// refused whole, leaving the stored one as it was.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { MAX_AUTO_HOST_TARGETS } from '../../workers/api/routes/auto-host.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import { goLive } from './chat-fixtures.ts';

interface HostingBody {
  hosting: { channel: { id: string; name: string }; manifest_url: string; title: string } | null;
}

async function hosting(channelId: string): Promise<HostingBody['hosting']> {
  const res = await callApi(`/channels/${channelId}/hosting`);
  expect(res.status).toBe(200);
  return ((await res.json()) as HostingBody).hosting;
}

function setList(channelId: string, token: string, channels: string[]) {
  return callApi(`/channels/${channelId}/auto-host`, { method: 'PUT', token, body: { channels } });
}

async function endStreams(channelId: string): Promise<void> {
  await env.DB.prepare("UPDATE streams SET status = 'ended', ended_at = ? WHERE channel_id = ?")
    .bind(Date.now(), channelId)
    .run();
}

describe('auto-host', () => {
  it('hosts the first live channel of the list while offline, follows the order, and stops when live', async () => {
    const owner = await signUp('host');
    const first = await signUp('first');
    const second = await signUp('second');
    const put = await setList(owner.channel.id, owner.token, [first.user.username, second.channel.id]);
    expect(put.status).toBe(200);
    expect(((await put.json()) as { channels: { id: string }[] }).channels.map((c) => c.id)).toEqual([
      first.channel.id,
      second.channel.id,
    ]);
    expect(await hosting(owner.channel.id)).toBeNull();
    await goLive(second.channel.id);
    expect((await hosting(owner.channel.id))?.channel.id).toBe(second.channel.id);
    await goLive(first.channel.id);
    const now = await hosting(owner.user.username);
    expect(now?.channel.id).toBe(first.channel.id);
    expect(now?.manifest_url).toMatch(new RegExp(`/live/${first.channel.id}/master\\.m3u8$`));
    // Live itself: the channel plays its own stream, not a host.
    await goLive(owner.channel.id);
    expect(await hosting(owner.channel.id)).toBeNull();
    await endStreams(owner.channel.id);
    await endStreams(first.channel.id);
    expect((await hosting(owner.channel.id))?.channel.id).toBe(second.channel.id);
    // An empty list turns it off.
    expect((await setList(owner.channel.id, owner.token, [])).status).toBe(200);
    expect(await hosting(owner.channel.id)).toBeNull();
  });

  it('lets only the owner read or change the list, and refuses a bad list whole', async () => {
    const owner = await signUp('host');
    const target = await signUp('target');
    const stranger = await signUp('stranger');
    expect((await setList(owner.channel.id, owner.token, [target.channel.id])).status).toBe(200);
    const foreign = await setList(owner.channel.id, stranger.token, [stranger.channel.id]);
    expect(foreign.status).toBe(403);
    expect((await readError(foreign)).code).toBe('forbidden');
    expect((await callApi(`/channels/${owner.channel.id}/auto-host`, { token: stranger.token })).status).toBe(
      403,
    );
    expect((await callApi(`/channels/${owner.channel.id}/auto-host`)).status).toBe(401);
    for (const [channels, status] of [
      [['no-such-channel-anywhere'], 422],
      [[owner.channel.id], 422],
      [[target.channel.id, target.user.username], 422],
      [Array.from({ length: MAX_AUTO_HOST_TARGETS + 1 }, (_, i) => `c${i}`), 400],
      [[''], 400],
    ] as const) {
      const res = await setList(owner.channel.id, owner.token, [...channels]);
      expect(res.status).toBe(status);
      expect((await readError(res)).message.length).toBeGreaterThan(0);
    }
    const kept = await callApi(`/channels/${owner.channel.id}/auto-host`, { token: owner.token });
    expect(((await kept.json()) as { channels: { id: string }[] }).channels.map((c) => c.id)).toEqual([
      target.channel.id,
    ]);
    expect((await callApi('/channels/nobody-here-at-all/hosting')).status).toBe(404);
  });
});
