// Ad breaks on the real Worker, LiveStream object and D1: the owner starts one while live, every
// media playlist lists it as an HLS interstitial (EXT-X-DATERANGE, CLASS com.apple.hls.interstitial,
// X-ASSET-LIST), the asset list fills the break from the ad pool for viewers and is empty for
// subscribers (the player skips it), and impressions are counted once per viewer per break.
import { env, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AuthorizeResponse } from '../../protocol/ingest.ts';
import { createSession } from '../../workers/shared/auth.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import { subscribe } from './chat-fixtures.ts';
import {
  createTestChannel,
  findTags,
  getPlaylist,
  publishSegment,
  readAttributes,
  startTestStream,
} from './origin-fixtures.ts';

const AdBreak = z.object({ id: z.string(), duration_seconds: z.number(), started_at: z.number() });
const AssetList = z.object({ ASSETS: z.array(z.object({ URI: z.string(), DURATION: z.number() })) });

/** Each live test channel's publish, for tests that upload more after the start. */
const publish = new Map<string, AuthorizeResponse>();

function never(): never {
  throw new Error('no publish recorded for this channel');
}

async function liveChannel() {
  const channel = await createTestChannel();
  publish.set(channel.channelId, await startTestStream(channel, ['source', 'audio'], 3));
  const token = await createSession(env.DB, channel.userId);
  return { channel, token };
}

function startBreak(channelId: string, token: string, durationSeconds: number) {
  return callApi(`/payments/channels/${channelId}/ad-breaks`, {
    method: 'POST',
    token,
    body: { duration_seconds: durationSeconds },
  });
}

async function countImpressions(breakId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM ad_impressions WHERE break_id = ?')
    .bind(breakId)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

describe('ad breaks', () => {
  it('lists a started break as an HLS interstitial in every media playlist, delta updates too', async () => {
    const { channel, token } = await liveChannel();
    const res = await startBreak(channel.channelId, token, 60);
    expect(res.status).toBe(201);
    const adBreak = AdBreak.parse(await res.json());
    for (const [rendition, query] of [
      ['source', ''],
      ['audio', ''],
      ['source', '?_HLS_skip=YES'],
    ] as const) {
      const playlist = await (await getPlaylist(channel.channelId, `${rendition}.m3u8`, query)).text();
      const [daterange, ...more] = findTags(playlist, '#EXT-X-DATERANGE:');
      expect(more).toEqual([]);
      expect(readAttributes(daterange ?? '')).toEqual({
        ID: `ad-${adBreak.id}`,
        CLASS: 'com.apple.hls.interstitial',
        'START-DATE': new Date(adBreak.started_at).toISOString(),
        DURATION: '60',
        'X-ASSET-LIST': `/api/v1/payments/ad-breaks/${adBreak.id}/asset-list`,
        'X-RESTRICT': 'SKIP,JUMP',
      });
      // "If a Playlist contains an EXT-X-DATERANGE tag, it MUST also contain at least one EXT-X-PROGRAM-DATE-TIME tag."
      expect(findTags(playlist, '#EXT-X-PROGRAM-DATE-TIME:').length).toBeGreaterThan(0);
    }
  });

  it('refuses a second break while one runs (429 + Retry-After), a stranger (403), a bad length (400), an offline channel (409)', async () => {
    const { channel, token } = await liveChannel();
    expect((await startBreak(channel.channelId, token, 30)).status).toBe(201);
    const again = await startBreak(channel.channelId, token, 30);
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(Number(again.headers.get('Retry-After'))).toBeLessThanOrEqual(30);
    const stranger = await signUp('stranger');
    expect((await startBreak(channel.channelId, stranger.token, 30)).status).toBe(403);
    expect((await startBreak(channel.channelId, token, 45)).status).toBe(400);
    const offline = await signUp('offline');
    const refused = await startBreak(offline.channel.id, offline.token, 30);
    expect(refused.status).toBe(409);
    expect((await readError(refused)).code).toBe('conflict');
    const { results } = await env.DB.prepare(
      'SELECT duration_seconds FROM ad_breaks WHERE channel_id IN (?, ?)',
    )
      .bind(channel.channelId, offline.channel.id)
      .all();
    expect(results).toEqual([{ duration_seconds: 30 }]);
  });

  it('keeps a running break when the LiveStream object restarts: still listed, a second one still refused', async () => {
    const { channel, token } = await liveChannel();
    const started = await startBreak(channel.channelId, token, 90);
    expect(started.status).toBe(201);
    const adBreak = AdBreak.parse(await started.json());
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await evictDurableObject(stub);
    // The stream goes on after the restart: one more segment from the same publish.
    await publishSegment(publish.get(channel.channelId) ?? never(), 'source', 3);
    await publishSegment(publish.get(channel.channelId) ?? never(), 'audio', 3);
    const playlist = await (await getPlaylist(channel.channelId, 'source.m3u8')).text();
    const [daterange] = findTags(playlist, '#EXT-X-DATERANGE:');
    expect(readAttributes(daterange ?? '')).toMatchObject({ ID: `ad-${adBreak.id}`, DURATION: '90' });
    const again = await startBreak(channel.channelId, token, 30);
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(60);
  });

  it('fills the break from the ad pool for viewers, once per viewer; a subscriber gets no assets and no impression', async () => {
    const { channel, token } = await liveChannel();
    const adBreak = AdBreak.parse(await (await startBreak(channel.channelId, token, 30)).json());
    const url = `/payments/ad-breaks/${adBreak.id}/asset-list`;
    const network = '203.0.113.9';
    const anonymous = await callApi(`${url}?_HLS_primary_id=player-1`, { ip: network });
    expect(anonymous.status).toBe(200);
    const list = AssetList.parse(await anonymous.json());
    expect(list.ASSETS.reduce((sum, asset) => sum + asset.DURATION, 0)).toBe(30);
    expect(list.ASSETS[0]?.URI).toBe('/ads/house-ad-10s.m3u8');
    // Replays with other player ids from the same network (a script minting impressions) count once.
    for (const id of ['player-2', 'player-3', 'player-4']) {
      await callApi(`${url}?_HLS_primary_id=${id}`, { ip: network });
    }
    expect(await countImpressions(adBreak.id)).toBe(1);

    const viewer = await signUp('viewer');
    await callApi(url, { token: viewer.token });
    await callApi(url, { token: viewer.token });
    expect(await countImpressions(adBreak.id)).toBe(2);

    const subscriber = await signUp('subscriber');
    await subscribe(channel.channelId, subscriber.user.id);
    const skipped = AssetList.parse(await (await callApi(url, { token: subscriber.token })).json());
    expect(skipped.ASSETS).toEqual([]);
    expect(await countImpressions(adBreak.id)).toBe(2);

    const earnings = await callApi(`/payments/channels/${channel.channelId}/earnings`, { token });
    expect(((await earnings.json()) as { ad_impressions: number }).ad_impressions).toBe(2);
    expect((await callApi('/payments/ad-breaks/nope/asset-list')).status).toBe(404);
  });
});
