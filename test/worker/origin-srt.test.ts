// SRT ingest's origin half (docs/srt.md): `srt_url` on the stream start and the stream-key endpoints
// carries the key as the streamid and the channel's passphrase, and the ingest node's read-only
// passphrase lookup answers the same passphrase for that key, 403 for an unknown one, and creates
// nothing either way. A key reset changes the passphrase with the key.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callApi, signUp } from './api-helpers.ts';
import { INGEST_AUTH, ORIGIN } from './origin-fixtures.ts';

const KeyResponse = z.object({ stream_key: z.string(), srt_url: z.string() });

async function lookUpPassphrase(streamKey: string): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/internal/ingest/srt-passphrase`, {
    method: 'POST',
    headers: { ...INGEST_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream_key: streamKey }),
  });
}

async function countStreams(): Promise<number> {
  return (await env.DB.prepare('SELECT count(*) AS n FROM streams').first<{ n: number }>())?.n ?? 0;
}

describe('SRT ingest at the origin', () => {
  it('gives srt_url with the key and the passphrase the node looks up, creating nothing', async () => {
    const user = await signUp('srtstart');
    const res = await callApi('/streams/start', {
      method: 'POST',
      token: user.token,
      body: { channel_id: user.channel.id },
    });
    expect(res.status).toBe(200);
    const { stream_key, srt_url } = KeyResponse.parse(await res.json());
    const url = new URL(srt_url.replace(/^srt:/, 'http:'));
    expect(srt_url.startsWith(`${env.SRT_INGEST_URL}?`)).toBe(true);
    expect(url.searchParams.get('streamid')).toBe(stream_key);
    expect(url.searchParams.get('pbkeylen')).toBe('16');
    const passphrase = url.searchParams.get('passphrase') ?? '';
    // SRTO_PASSPHRASE: 10 to 79 characters; URL-safe so ffmpeg reads it from the query as is.
    expect(passphrase).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const before = await countStreams();
    const lookup = await lookUpPassphrase(stream_key);
    expect(lookup.status).toBe(200);
    expect(await lookup.json()).toEqual({ passphrase });
    expect(await countStreams()).toBe(before);

    const keyRes = await callApi(`/channels/${user.channel.id}/stream-key`, { token: user.token });
    expect(KeyResponse.parse(await keyRes.json()).srt_url).toBe(srt_url);
  });

  it('answers 403 for an unknown key and needs the ingest secret', async () => {
    const before = await countStreams();
    const unknown = await lookUpPassphrase('live_not-a-real-key');
    expect(unknown.status).toBe(403);
    expect(await unknown.json()).toMatchObject({ error: { code: 'bad_stream_key' } });
    const noAuth = await SELF.fetch(`${ORIGIN}/internal/ingest/srt-passphrase`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ stream_key: 'live_x' }),
    });
    expect(noAuth.status).toBe(401);
    expect(await countStreams()).toBe(before);
  });

  it('changes the passphrase when the key is reset; the old key finds none', async () => {
    const user = await signUp('srtreset');
    const first = KeyResponse.parse(
      await (await callApi(`/channels/${user.channel.id}/stream-key`, { token: user.token })).json(),
    );
    const reset = await callApi(`/channels/${user.channel.id}/stream-key/reset`, {
      method: 'POST',
      token: user.token,
    });
    const second = KeyResponse.parse(await reset.json());
    const passphraseOf = (srtUrl: string) =>
      new URL(srtUrl.replace(/^srt:/, 'http:')).searchParams.get('passphrase');
    expect(passphraseOf(second.srt_url)).not.toBe(passphraseOf(first.srt_url));
    expect((await lookUpPassphrase(first.stream_key)).status).toBe(403);
    expect(await (await lookUpPassphrase(second.stream_key)).json()).toEqual({
      passphrase: passphraseOf(second.srt_url),
    });
  });
});
