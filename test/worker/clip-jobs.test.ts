// Clips end to end inside workerd: POST /clips against a synthetic live stream or its VOD, the
// clip.requested job cutting a real fragmented MP4 out of the archived segments, the MP4's boxes,
// idempotency, the failure paths, and the clip API.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { readBoxes } from '../../media/mp4/boxes.ts';
import { getFragmentSeconds, readFragments } from '../../media/mp4/fragments.ts';
import { readInit } from '../../media/mp4/init.ts';
import { createEvent } from '../../protocol/events.ts';
import { vodPlaybackApp } from '../../workers/origin/vod-playback.ts';
import { callApi, readError, signUp, type TestSession } from './api-helpers.ts';
import {
  deliver,
  deliverStreamEnded,
  endSyntheticStream,
  listKeys,
  type SyntheticStream,
  startSyntheticStream,
  VIDEO_TIMESCALE,
} from './vod-fixtures.ts';

async function postClip(
  session: TestSession,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return callApi('/clips', {
    method: 'POST',
    token: session.token,
    body: { title: 'Nice play', ...body },
    headers,
  });
}

async function createClip(
  session: TestSession,
  stream: SyntheticStream,
  duration: number,
  offset: number,
): Promise<string> {
  const res = await postClip(session, {
    stream_id: stream.streamId,
    duration_seconds: duration,
    offset_seconds: offset,
  });
  if (res.status !== 202) throw new Error(`POST /clips answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { clip_id: string; url: string; status: string };
  expect(body.status).toBe('processing');
  expect(body.url).toBe(`http://localhost/clips/${body.clip_id}.mp4`);
  return body.clip_id;
}

async function readClip(clipId: string) {
  const res = await callApi(`/clips/${clipId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as {
    status: string;
    failure_reason: string | null;
    duration_seconds: number;
    view_count: number;
  };
}

/** The clip MP4's facts as a player reads them: duration boxes, fragment times and numbers. */
function inspectMp4(bytes: Uint8Array) {
  const init = readInit(bytes);
  const top = readBoxes(bytes);
  const moov = top.find((b) => b.type === 'moov');
  const mvex = moov && readBoxes(bytes, moov.payload, moov.start + moov.size).find((b) => b.type === 'mvex');
  const mehd = mvex && readBoxes(bytes, mvex.payload, mvex.start + mvex.size).find((b) => b.type === 'mehd');
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mehdDuration = mehd
    ? data.getUint32(mehd.payload + 4) * 2 ** 32 + data.getUint32(mehd.payload + 8)
    : null;
  const fragments = readFragments(bytes, init);
  const sequences = fragments.map((f) => (f.mfhd === null ? null : data.getUint32(f.mfhd + 12)));
  const seconds = fragments.reduce((sum, f) => sum + getFragmentSeconds(f, init), 0);
  return {
    init,
    top: top.map((b) => b.type),
    mehdSeconds: (mehdDuration ?? 0) / init.movieTimescale,
    fragments,
    sequences,
    seconds,
  };
}

describe('clips', () => {
  let viewer: TestSession;

  it('cuts a live clip into one fragmented MP4 that starts at 0 and states its duration', async () => {
    viewer = await signUp('clipper');
    const stream = await startSyntheticStream(['720p60', 'audio'], 6);
    const clipId = await createClip(viewer, stream, 6, -6);
    const event = createEvent('clip.requested', { clip_id: clipId });
    await deliver('clip-requests', [event]);
    const clip = await readClip(clipId);
    expect(clip.status).toBe('ready');

    const object = await env.MEDIA.get(`clips/${clipId}.mp4`);
    expect(object?.httpMetadata?.contentType).toBe('video/mp4');
    const bytes = new Uint8Array(await (object?.arrayBuffer() ?? new ArrayBuffer(0)));
    const mp4 = inspectMp4(bytes);
    expect(mp4.top.slice(0, 3)).toEqual(['ftyp', 'moov', 'moof']);
    expect(Math.abs(mp4.seconds - 6)).toBeLessThan(0.5);
    expect(Math.abs(mp4.mehdSeconds - 6)).toBeLessThan(0.5);
    expect(mp4.sequences).toEqual(mp4.fragments.map((_, i) => i + 1));
    const videoTimes = mp4.fragments.map((f) => f.trafs.find((t) => t.trackId === 1)?.baseMediaDecodeTime);
    expect(videoTimes[0]).toBe(0);
    // Continuous decode times: each fragment starts where the previous one ended.
    for (let i = 1; i < videoTimes.length; i++)
      expect(videoTimes[i]).toBe((videoTimes[i - 1] ?? 0) + 0.2 * VIDEO_TIMESCALE);
  });

  it('makes one clip and one R2 object when the job is delivered twice', async () => {
    viewer = await signUp('twice');
    const stream = await startSyntheticStream(['720p60'], 4);
    const clipId = await createClip(viewer, stream, 5, -5);
    const event = createEvent('clip.requested', { clip_id: clipId });
    await deliver('clip-requests', [event, event]);
    const first = await env.MEDIA.head(`clips/${clipId}.mp4`);
    // A second event for the same clip (not a redelivery) finds it ready and changes nothing.
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
    const second = await env.MEDIA.head(`clips/${clipId}.mp4`);
    expect(second?.etag).toBe(first?.etag);
    expect(second?.uploaded.getTime()).toBe(first?.uploaded.getTime());
    expect(await listKeys(`clips/${clipId}`)).toEqual([`clips/${clipId}.mp4`]);
    const count = await env.DB.prepare('SELECT count(*) AS n FROM clips WHERE stream_id = ?')
      .bind(stream.streamId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it('replays the 202 of a POST with the same Idempotency-Key instead of making a second clip', async () => {
    viewer = await signUp('idem');
    const stream = await startSyntheticStream(['720p60'], 4);
    const body = { stream_id: stream.streamId, duration_seconds: 5, offset_seconds: -5 };
    const first = await postClip(viewer, body, { 'Idempotency-Key': 'clip-1' });
    const second = await postClip(viewer, body, { 'Idempotency-Key': 'clip-1' });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('Idempotent-Replayed')).toBe('true');
    expect(await second.json()).toEqual(await first.json());
    const count = await env.DB.prepare('SELECT count(*) AS n FROM clips WHERE stream_id = ?')
      .bind(stream.streamId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it('answers 422 at once for a window that is already unavailable, and 400/401/404 for bad requests', async () => {
    viewer = await signUp('reject');
    const stream = await startSyntheticStream(['720p60'], 4);
    const tooOld = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 5,
      offset_seconds: -60,
    });
    expect(tooOld.status).toBe(422);
    expect((await readError(tooOld)).message).toContain('before the oldest media');
    const future = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 10,
      offset_seconds: -5,
    });
    expect(future.status).toBe(422);
    const tooLong = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 61,
      offset_seconds: -61,
    });
    expect(tooLong.status).toBe(400);
    const anonymous = await callApi('/clips', {
      method: 'POST',
      body: { stream_id: stream.streamId, title: 'x', duration_seconds: 5, offset_seconds: -5 },
    });
    expect(anonymous.status).toBe(401);
    const unknown = await postClip(viewer, {
      stream_id: crypto.randomUUID(),
      duration_seconds: 5,
      offset_seconds: -5,
    });
    expect(unknown.status).toBe(404);
    expect((await callApi(`/clips/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('fails the job cleanly when the window media is gone by the time it runs', async () => {
    viewer = await signUp('gone');
    const stream = await startSyntheticStream(['720p60'], 4);
    const clipId = await createClip(viewer, stream, 5, -5);
    // The segments leave R2 (retention) between the POST and the job.
    const keys = (await listKeys(`streams/${stream.streamId}/720p60/`)).filter((k) => k.endsWith('.m4s'));
    await env.MEDIA.delete(keys);
    const result = await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
    expect(result.acked).toHaveLength(1);
    const clip = await readClip(clipId);
    expect(clip.status).toBe('failed');
    expect(clip.failure_reason).toBe('The media of this window no longer exists');
    expect(await env.MEDIA.head(`clips/${clipId}.mp4`)).toBeNull();
    const media = await vodPlaybackApp.request(`http://localhost/clips/${clipId}.mp4`, {}, env);
    expect(media.status).toBe(404);
  });

  it('clips an ended stream from a position in its VOD, and refuses one past the VOD end or after deletion', async () => {
    viewer = await signUp('vodclip');
    const stream = await startSyntheticStream(['720p60', 'audio'], 6, { reconnectAfter: 3 });
    await endSyntheticStream(stream);
    await deliverStreamEnded(stream, 12);
    // VOD positions 6..11 are the run after the reconnect.
    const clipId = await createClip(viewer, stream, 5, 6);
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
    expect((await readClip(clipId)).status).toBe('ready');
    const bytes = new Uint8Array(
      await ((await env.MEDIA.get(`clips/${clipId}.mp4`))?.arrayBuffer() ?? new ArrayBuffer(0)),
    );
    expect(Math.abs(inspectMp4(bytes).seconds - 5)).toBeLessThan(0.5);

    const pastEnd = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 10,
      offset_seconds: 8,
    });
    expect(pastEnd.status).toBe(422);
    const negative = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 5,
      offset_seconds: -5,
    });
    expect(negative.status).toBe(422);
    // A clip requested before the VOD was deleted fails; one requested after is refused at once.
    const late = await createClip(viewer, stream, 5, 0);
    await env.DB.prepare("UPDATE vods SET status = 'deleted' WHERE stream_id = ?")
      .bind(stream.streamId)
      .run();
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: late })]);
    expect(await readClip(late)).toMatchObject({
      status: 'failed',
      failure_reason: 'The past broadcast was deleted or has expired',
    });
    const refused = await postClip(viewer, {
      stream_id: stream.streamId,
      duration_seconds: 5,
      offset_seconds: 0,
    });
    expect(refused.status).toBe(422);
    // The ready clip stays: clips are kept forever.
    expect(await env.MEDIA.head(`clips/${clipId}.mp4`)).not.toBeNull();
  });

  it('serves a ready clip with Range and immutable caching, counts views, and lists clips by recent and top', async () => {
    viewer = await signUp('lister');
    const stream = await startSyntheticStream(['720p60'], 4);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const clipId = await createClip(viewer, stream, 5, -5 - i);
      await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);
      ids.push(clipId);
    }
    const [a, b, c] = ids;
    const media = await vodPlaybackApp.request(
      `http://localhost/clips/${a}.mp4`,
      { headers: { Range: 'bytes=0-7' } },
      env,
    );
    expect(media.status).toBe(206);
    expect(media.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
    expect(media.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(new TextDecoder().decode((await media.arrayBuffer()).slice(4, 8))).toBe('ftyp');

    for (const [id, views] of [
      [b, 2],
      [c, 1],
    ] as const) {
      for (let i = 0; i < views; i++)
        expect((await callApi(`/clips/${id}/views`, { method: 'POST' })).status).toBe(204);
    }
    expect((await readClip(b ?? '')).view_count).toBe(2);
    const channel = stream.channel.channelId;
    const top = (await (await callApi(`/channels/${channel}/clips?sort=top`)).json()) as {
      data: { id: string }[];
    };
    expect(top.data.map((clip) => clip.id)).toEqual([b, c, a]);
    const page1 = (await (await callApi(`/channels/${channel}/clips?sort=recent&limit=2`)).json()) as {
      data: { id: string }[];
      cursor: string | null;
    };
    expect(page1.data).toHaveLength(2);
    const page2 = (await (
      await callApi(`/channels/${channel}/clips?sort=recent&limit=2&cursor=${page1.cursor}`)
    ).json()) as {
      data: { id: string }[];
      cursor: string | null;
    };
    expect(page2.cursor).toBeNull();
    expect(new Set([...page1.data, ...page2.data].map((clip) => clip.id))).toEqual(new Set(ids));
    expect((await callApi(`/channels/${channel}/clips?sort=top&cursor=${page1.cursor}`)).status).toBe(400);
    expect((await callApi(`/channels/${crypto.randomUUID()}/clips`)).status).toBe(404);
  });
});
