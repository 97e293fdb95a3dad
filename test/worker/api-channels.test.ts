import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hashStreamKey } from '../../workers/shared/stream-keys.ts';
import { callApi, readError, signUp } from './api-helpers.ts';

/** Polls the count the stream-events consumer settles (its batches wait up to 1 s), for up to 5 s. */
async function waitForFollowerCount(channelId: string, expected: number): Promise<number | undefined> {
  let count: number | undefined;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    const row = await env.DB.prepare('SELECT follower_count FROM channels WHERE id = ?')
      .bind(channelId)
      .first<{ follower_count: number }>();
    count = row?.follower_count;
    if (count === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return count;
}

const StreamKeyResponse = z.object({
  stream_key: z.string(),
  ingest_url: z.string(),
  secure_ingest_url: z.string(),
  backup_ingest_url: z.string(),
});

describe('channels', () => {
  it('serves a channel by id and by name with its live status and chat socket', async () => {
    const owner = await signUp('chan');
    for (const ref of [owner.channel.id, owner.channel.name.toUpperCase()]) {
      const res = await callApi(`/channels/${ref}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        id: owner.channel.id,
        is_live: false,
        chat_websocket: `ws://localhost/ws/${owner.channel.id}`,
      });
    }
    const missing = await callApi('/channels/no-such-channel');
    expect(missing.status).toBe(404);
    expect((await readError(missing)).code).toBe('not_found');
  });

  it('lets the owner edit the channel, resolving the category by slug', async () => {
    const owner = await signUp('edit');
    const res = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      token: owner.token,
      body: { display_name: 'The Best', title: 'Speedruns', category: 'minecraft', tags: ['speedrun', 'en'] },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      display_name: 'The Best',
      title: 'Speedruns',
      category: { slug: 'minecraft', id: 5 },
      tags: ['speedrun', 'en'],
    });
  });

  it('refuses display names with control, bidi or zero-width characters that would disguise them', async () => {
    const owner = await signUp('disguise');
    const disguises = [
      'owner\nPRIVMSG',
      'nul\u0000here',
      'rev\u202Eresu',
      'iso\u2066late\u2069',
      'zero\u200Bwidth',
      'mark\u200Fhere',
      'bom\uFEFFinside',
    ];
    for (const display_name of disguises) {
      const res = await callApi(`/channels/${owner.channel.id}`, {
        method: 'PATCH',
        token: owner.token,
        body: { display_name },
      });
      expect(res.status).toBe(400);
      expect((await readError(res)).code).toBe('validation_failed');
    }
    const kept = await callApi(`/channels/${owner.channel.id}`);
    expect(await kept.json()).toMatchObject({ display_name: owner.channel.name });
    const accented = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      token: owner.token,
      body: { display_name: 'Zoë 配信' },
    });
    expect(accented.status).toBe(200);
  });

  it("refuses to edit another user's channel with 403 and an unknown one with 404", async () => {
    const owner = await signUp('victim');
    const other = await signUp('intruder');
    const forbidden = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      token: other.token,
      body: { title: 'pwned' },
    });
    expect(forbidden.status).toBe(403);
    expect((await readError(forbidden)).code).toBe('forbidden');
    const missing = await callApi('/channels/nope', {
      method: 'PATCH',
      token: other.token,
      body: { title: 'x' },
    });
    expect(missing.status).toBe(404);
    const anonymous = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      body: { title: 'x' },
    });
    expect(anonymous.status).toBe(401);
  });

  it('validates channel edits: too many tags, long tags, unknown fields, unknown category', async () => {
    const owner = await signUp('valid');
    const path = `/channels/${owner.channel.id}`;
    for (const body of [
      { tags: Array.from({ length: 11 }, (_, i) => `t${i}`) },
      { tags: ['x'.repeat(26)] },
      { stream_key_hash: 'sneaky' },
    ]) {
      const res = await callApi(path, { method: 'PATCH', token: owner.token, body });
      expect(res.status).toBe(400);
      expect((await readError(res)).code).toBe('validation_failed');
    }
    const unknown = await callApi(path, {
      method: 'PATCH',
      token: owner.token,
      body: { category: 'underwater-basket' },
    });
    expect(unknown.status).toBe(422);
  });

  it('shows the owner a stream key whose hash is the one stored, and nobody else', async () => {
    const owner = await signUp('key');
    const res = await callApi(`/channels/${owner.channel.id}/stream-key`, { token: owner.token });
    expect(res.status).toBe(200);
    const { stream_key, ingest_url, secure_ingest_url, backup_ingest_url } = StreamKeyResponse.parse(
      await res.json(),
    );
    expect(stream_key).toMatch(/^live_[A-Za-z0-9_-]{30,50}$/);
    expect(ingest_url).toBe(env.RTMP_INGEST_URL);
    expect(secure_ingest_url).toBe(env.RTMPS_INGEST_URL);
    expect(secure_ingest_url.startsWith('rtmps://')).toBe(true);
    // The second front, marked as a dual publish's second connection (docs/deploy.md).
    expect(backup_ingest_url).toBe(env.BACKUP_RTMP_INGEST_URL);
    expect(new URL(backup_ingest_url).searchParams.get('backup')).toBe('1');
    const row = await env.DB.prepare('SELECT stream_key_hash FROM channels WHERE id = ?')
      .bind(owner.channel.id)
      .first<{ stream_key_hash: string }>();
    expect(row?.stream_key_hash).toBe(await hashStreamKey(stream_key));

    const again = StreamKeyResponse.parse(
      await (await callApi(`/channels/${owner.channel.id}/stream-key`, { token: owner.token })).json(),
    );
    expect(again.stream_key).toBe(stream_key);
    const other = await signUp('peek');
    expect((await callApi(`/channels/${owner.channel.id}/stream-key`, { token: other.token })).status).toBe(
      403,
    );
  });

  it('resets the stream key so that the old key no longer finds the channel', async () => {
    const owner = await signUp('reset');
    const before = StreamKeyResponse.parse(
      await (await callApi(`/channels/${owner.channel.id}/stream-key`, { token: owner.token })).json(),
    );
    const res = await callApi(`/channels/${owner.channel.id}/stream-key/reset`, {
      method: 'POST',
      token: owner.token,
    });
    expect(res.status).toBe(200);
    const after = StreamKeyResponse.parse(await res.json());
    expect(after.stream_key).not.toBe(before.stream_key);
    const { findChannelByStreamKey } = await import('../../workers/shared/stream-keys.ts');
    expect(await findChannelByStreamKey(env.DB, before.stream_key)).toBeNull();
    expect(await findChannelByStreamKey(env.DB, after.stream_key)).toMatchObject({
      id: owner.channel.id,
      tier: 'none',
      tags: [],
    });
  });
});

describe('follows', () => {
  it('follows idempotently, lists the follow, and unfollows', async () => {
    const streamer = await signUp('star');
    const fan = await signUp('fan');
    for (let i = 0; i < 2; i++) {
      const res = await callApi(`/channels/${streamer.channel.id}/follow`, {
        method: 'POST',
        token: fan.token,
      });
      expect(res.status).toBe(204);
    }
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM follows WHERE user_id = ?')
      .bind(fan.user.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
    const list = await callApi('/users/me/follows', { token: fan.token });
    expect(list.status).toBe(200);
    expect(await list.json()).toMatchObject({
      data: [{ channel: { id: streamer.channel.id }, stream: null }],
    });

    expect(
      (await callApi(`/channels/${streamer.channel.id}/follow`, { method: 'DELETE', token: fan.token }))
        .status,
    ).toBe(204);
    expect(await (await callApi('/users/me/follows', { token: fan.token })).json()).toEqual({ data: [] });
  });

  it('refuses to follow your own channel (422), an unknown channel (404), or anonymously (401)', async () => {
    const user = await signUp('self');
    const own = await callApi(`/channels/${user.channel.id}/follow`, { method: 'POST', token: user.token });
    expect(own.status).toBe(422);
    expect((await readError(own)).code).toBe('unprocessable');
    expect((await callApi('/channels/nope/follow', { method: 'POST', token: user.token })).status).toBe(404);
    expect((await callApi(`/channels/${user.channel.id}/follow`, { method: 'POST' })).status).toBe(401);
  });
});

describe('channel edits and follows, beyond the basics', () => {
  it('accepts only http(s) avatar and banner URLs', async () => {
    const owner = await signUp('urls');
    const path = `/channels/${owner.channel.id}`;
    for (const url of [
      'javascript:alert(1)',
      'data:image/png;base64,iVBORw0KGgo=',
      'ftp://example.com/a.png',
    ]) {
      for (const field of ['avatar_url', 'banner_url']) {
        const res = await callApi(path, { method: 'PATCH', token: owner.token, body: { [field]: url } });
        expect(res.status).toBe(400);
        expect((await readError(res)).code).toBe('validation_failed');
      }
    }
    const ok = await callApi(path, {
      method: 'PATCH',
      token: owner.token,
      body: { avatar_url: 'https://cdn.example.com/a.png', banner_url: 'http://example.com/b.jpg' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      avatar_url: 'https://cdn.example.com/a.png',
      banner_url: 'http://example.com/b.jpg',
    });
  });

  it('shows a title edited on the channel while live to viewers of the live stream and to search', async () => {
    const owner = await signUp('livepatch');
    const start = await callApi('/streams/start', {
      method: 'POST',
      token: owner.token,
      body: { channel_id: owner.channel.id, title: 'Before' },
    });
    const { stream_id } = z.object({ stream_id: z.string() }).parse(await start.json());
    await env.DB.prepare("UPDATE streams SET status = 'live', started_at = ? WHERE id = ?")
      .bind(Date.now(), stream_id)
      .run();
    const word = `Axolotl${crypto.randomUUID().slice(0, 6)}`;
    const res = await callApi(`/channels/${owner.channel.id}`, {
      method: 'PATCH',
      token: owner.token,
      body: { title: `After ${word}`, category: 'art', tags: ['chill'], display_name: 'Renamed' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ title: `After ${word}`, display_name: 'Renamed' });
    const live = await callApi(`/streams/${owner.channel.id}/live`);
    expect(await live.json()).toMatchObject({
      stream_id,
      title: `After ${word}`,
      category: { slug: 'art' },
      tags: ['chill'],
      channel: { display_name: 'Renamed' },
    });
    const search = await callApi(`/search?q=${word.toLowerCase()}`);
    expect(await search.json()).toMatchObject({ streams: [{ stream_id }] });
  });

  it('settles follower_count when a follow is retried after its first attempt wrote the row but sent nothing', async () => {
    const streamer = await signUp('retried');
    const fan = await signUp('retrier');
    // What a first attempt leaves when its queue send fails: the row, and a count never settled.
    await env.DB.prepare('INSERT INTO follows (user_id, channel_id, created_at) VALUES (?, ?, ?)')
      .bind(fan.user.id, streamer.channel.id, Date.now())
      .run();
    const retry = await callApi(`/channels/${streamer.channel.id}/follow`, {
      method: 'POST',
      token: fan.token,
    });
    expect(retry.status).toBe(204);
    expect(await waitForFollowerCount(streamer.channel.id, 1)).toBe(1);

    await env.DB.prepare('DELETE FROM follows WHERE user_id = ? AND channel_id = ?')
      .bind(fan.user.id, streamer.channel.id)
      .run();
    const unfollow = await callApi(`/channels/${streamer.channel.id}/follow`, {
      method: 'DELETE',
      token: fan.token,
    });
    expect(unfollow.status).toBe(204);
    expect(await waitForFollowerCount(streamer.channel.id, 0)).toBe(0);
  });
});

describe('idempotency keys', () => {
  it('replays the first response for the same key and body, and refuses the key with another body', async () => {
    const owner = await signUp('idem');
    const headers = { 'Idempotency-Key': crypto.randomUUID() };
    const body = { channel_id: owner.channel.id, title: 'First' };
    const first = await callApi('/streams/start', { method: 'POST', token: owner.token, headers, body });
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    expect(first.headers.get('Idempotent-Replayed')).toBeNull();

    const replay = await callApi('/streams/start', { method: 'POST', token: owner.token, headers, body });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await replay.json()).toEqual(firstBody);

    const reused = await callApi('/streams/start', {
      method: 'POST',
      token: owner.token,
      headers,
      body: { ...body, title: 'Second' },
    });
    expect(reused.status).toBe(422);
    expect((await readError(reused)).code).toBe('unprocessable');
  });

  it('keeps keys per caller, so another user with the same key runs their own request', async () => {
    const a = await signUp('ida');
    const b = await signUp('idb');
    const headers = { 'Idempotency-Key': 'shared-key' };
    const resA = await callApi('/streams/start', {
      method: 'POST',
      token: a.token,
      headers,
      body: { channel_id: a.channel.id },
    });
    const resB = await callApi('/streams/start', {
      method: 'POST',
      token: b.token,
      headers,
      body: { channel_id: b.channel.id },
    });
    expect(resA.status).toBe(200);
    expect(resB.status).toBe(200);
    expect(resB.headers.get('Idempotent-Replayed')).toBeNull();
  });
});

describe('openapi', () => {
  it('serves the OpenAPI document listing the API routes', async () => {
    const res = await callApi('/openapi.json');
    expect(res.status).toBe(200);
    const doc = z
      .object({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) })
      .parse(await res.json());
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/auth/signup',
      '/auth/login',
      '/auth/logout',
      '/users/me',
      '/users/me/follows',
      '/channels/{id}',
      '/channels/{id}/stream-key',
      '/channels/{id}/stream-key/reset',
      '/channels/{id}/follow',
      '/channels/{id}/moderators',
      '/channels/{id}/vips',
      '/streams/start',
      '/streams/{channel_id}/live',
      '/streams',
      '/streams/{id}',
      '/categories',
      '/categories/{slug}',
      '/search',
      '/notifications',
      '/notifications/read',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});
