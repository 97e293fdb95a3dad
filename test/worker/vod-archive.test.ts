// What a finalized VOD keeps and what it lets go: its own copy of the segment index in R2 (so the
// LiveStream object deletes the stream's rows, and clips still cut), VOD segment requests served
// without a D1 read each (yet 404 as soon as a DELETE starts), and chat replay that pages a busy
// window with next_from instead of silently dropping what did not fit.
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../protocol/events.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { getChatBatchKey } from '../../workers/vod/r2-storage.ts';
import { deleteVod } from '../../workers/vod/retention.ts';
import { callApi, signUp } from './api-helpers.ts';
import { deliver, deliverStreamEnded, endSyntheticStream, startSyntheticStream } from './vod-fixtures.ts';

async function makeVod(renditions: Array<'720p60' | 'audio'>, segments: number) {
  const stream = await startSyntheticStream(renditions, segments);
  await endSyntheticStream(stream);
  await deliverStreamEnded(stream, segments * 2);
  return { stream, vodId: await deriveVodId(stream.streamId) };
}

async function countRows(channelId: string, streamId: string): Promise<number> {
  const stub = env.LIVE_STREAM.getByName(channelId);
  return runInDurableObject(stub, (_instance, state) => {
    let rows = 0;
    for (const table of ['segments', 'parts', 'renditions']) {
      const result = state.storage.sql.exec(
        `SELECT count(*) AS n FROM ${table} WHERE stream_id = ?`,
        streamId,
      );
      rows += Number(result.one().n);
    }
    return rows;
  });
}

describe('VOD segment index', () => {
  it('moves the segment index to R2 and deletes the stream rows of the LiveStream object, and clips still cut', async () => {
    const stream = await startSyntheticStream(['720p60', 'audio'], 4);
    await endSyntheticStream(stream);
    expect(await countRows(stream.channel.channelId, stream.streamId)).toBeGreaterThan(0);
    await deliverStreamEnded(stream, 8);
    const vodId = await deriveVodId(stream.streamId);
    const stored = await env.MEDIA.get(`vods/${vodId}/index.json`);
    const index = (await stored?.json()) as {
      stream_id: string;
      renditions: Array<{ info: { name: string }; segments: Array<{ msn: number }> }>;
    };
    expect(index.stream_id).toBe(stream.streamId);
    expect(index.renditions.map((r) => [r.info.name, r.segments.map((s) => s.msn)])).toEqual([
      ['720p60', [0, 1, 2, 3]],
      ['audio', [0, 1, 2, 3]],
    ]);
    expect(await countRows(stream.channel.channelId, stream.streamId)).toBe(0);

    const viewer = await signUp('archivist');
    const res = await callApi('/clips', {
      method: 'POST',
      token: viewer.token,
      body: { title: 'From the index', stream_id: stream.streamId, duration_seconds: 5, offset_seconds: 2 },
    });
    expect(res.status).toBe(202);
    const { clip_id } = (await res.json()) as { clip_id: string };
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id })]);
    const clip = (await (await callApi(`/clips/${clip_id}`)).json()) as { status: string };
    expect(clip.status).toBe('ready');
  });
});

describe('VOD playback lookups', () => {
  it('serves VOD segments without a D1 read per request, and 404s them once a DELETE has started', async () => {
    const { stream, vodId } = await makeVod(['720p60'], 3);
    const url = `http://localhost/vod/${vodId}/720p60/1.m4s`;
    expect((await SELF.fetch(url)).status).toBe(200);
    // Behind the isolate's back, D1 no longer calls the VOD ready: the remembered lookup still plays.
    await env.DB.prepare("UPDATE vods SET status = 'deleting' WHERE id = ?").bind(vodId).run();
    expect((await SELF.fetch(url)).status).toBe(200);
    await env.DB.prepare("UPDATE vods SET status = 'ready' WHERE id = ?").bind(vodId).run();
    // A DELETE that has not purged a single object yet (budget 0) already stops playback.
    const result = await deleteVod(
      env,
      { id: vodId, stream_id: stream.streamId, channel_id: stream.channel.channelId },
      0,
    );
    expect(result.done).toBe(false);
    expect(await env.MEDIA.head(`streams/${stream.streamId}/720p60/1.m4s`)).not.toBeNull();
    const res = await SELF.fetch(url);
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  });
});

describe('chat replay paging', () => {
  it('answers next_from for a window of more batches than one read takes, and the next read continues there', async () => {
    const { stream, vodId } = await makeVod(['720p60'], 3);
    // 150 archived batches, one message each, 30 ms apart: more than the 100 one read takes.
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) {
      const sentAt = stream.startPdt + 100 + i * 30;
      const id = `msg-${String(i).padStart(3, '0')}`;
      ids.push(id);
      const message = { id, user_id: 'u1', user_name: 'viewer', content: `line ${i}`, sent_at: sentAt };
      await env.MEDIA.put(
        getChatBatchKey(stream.streamId, sentAt, sentAt, `batch-${i}`),
        JSON.stringify({
          channel_id: stream.channel.channelId,
          stream_id: stream.streamId,
          messages: [message],
        }),
      );
    }
    const seen: string[] = [];
    let from = 0;
    let reads = 0;
    for (; reads < 5; reads++) {
      const res = await callApi(`/vods/${vodId}/chat?from=${from}&to=6`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { messages: Array<{ id: string }>; next_from: number | null };
      seen.push(...body.messages.map((m) => m.id));
      if (body.next_from === null) break;
      expect(body.next_from).toBeGreaterThan(from);
      from = body.next_from;
    }
    expect(reads).toBe(1);
    expect(seen).toEqual(ids);
  });
});
