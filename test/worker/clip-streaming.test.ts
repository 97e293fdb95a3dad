// The clip job's memory bound and what a clip keeps of its stream. A 60 s clip of a high-bitrate
// source must not be held whole in a 128 MB Worker: the job reads one segment at a time and streams
// the MP4 into R2 with its length fixed up front. The seam is the job's R2 binding, wrapped to
// watch reads and the upload; everything else is the real workerd R2, D1 and queue consumer.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getFragmentSeconds, readFragments } from '../../media/mp4/fragments.ts';
import { readInit } from '../../media/mp4/init.ts';
import { createEvent } from '../../protocol/events.ts';
import { processClip } from '../../workers/clips/clip-job.ts';
import { deriveVodId } from '../../workers/vod/finalize-vod.ts';
import { deleteVod } from '../../workers/vod/retention.ts';
import { callApi, signUp, type TestSession } from './api-helpers.ts';
import {
  deliver,
  deliverStreamEnded,
  endSyntheticStream,
  type SyntheticStream,
  startSyntheticStream,
} from './vod-fixtures.ts';

async function createClip(
  session: TestSession,
  stream: SyntheticStream,
  duration: number,
  offset: number,
): Promise<string> {
  const res = await callApi('/clips', {
    method: 'POST',
    token: session.token,
    body: {
      title: 'Streamed',
      stream_id: stream.streamId,
      duration_seconds: duration,
      offset_seconds: offset,
    },
  });
  if (res.status !== 202) throw new Error(`POST /clips answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { clip_id: string };
  return body.clip_id;
}

interface BucketWatch {
  /** Segment objects fetched whose bytes the job has not read yet, at most at once. */
  mostSegmentsOpen: number;
  /** What the clip upload was given as its body, and the length it declared. */
  uploads: Array<{ key: string; streamed: boolean }>;
}

/** The job's R2 binding, watched: how many segments are open at once, and how the clip is uploaded. */
function watchBucket(bucket: R2Bucket): { bucket: R2Bucket; watch: BucketWatch } {
  const watch: BucketWatch = { mostSegmentsOpen: 0, uploads: [] };
  let open = 0;
  const watched = {
    get: async (key: string, options?: R2GetOptions) => {
      const object = await bucket.get(key, options);
      if (!object || !key.endsWith('.m4s')) return object;
      open += 1;
      watch.mostSegmentsOpen = Math.max(watch.mostSegmentsOpen, open);
      return {
        httpEtag: object.httpEtag,
        size: object.size,
        arrayBuffer: async () => {
          const bytes = await object.arrayBuffer();
          open -= 1;
          return bytes;
        },
      };
    },
    put: (
      key: string,
      value: ReadableStream | ArrayBuffer | ArrayBufferView | string | null,
      options?: R2PutOptions,
    ) => {
      watch.uploads.push({ key, streamed: value instanceof ReadableStream });
      return bucket.put(key, value, options);
    },
    head: (key: string) => bucket.head(key),
  };
  return { bucket: watched as unknown as R2Bucket, watch };
}

describe('clip job memory', () => {
  it('reads the window one segment at a time and streams the MP4 into R2 with its length known up front', async () => {
    const viewer = await signUp('streamer');
    const stream = await startSyntheticStream(['720p60'], 8);
    const clipId = await createClip(viewer, stream, 12, -14);
    const { bucket, watch } = watchBucket(env.MEDIA);
    // The job settles the clip row itself (a clip deleted meanwhile must not keep its media), so
    // nothing is left for the caller's batch.
    expect(await processClip({ ...env, MEDIA: bucket }, clipId, Date.now())).toEqual([]);

    expect(watch.mostSegmentsOpen).toBe(1);
    expect(watch.uploads).toEqual([{ key: `clips/${clipId}.mp4`, streamed: true }]);
    const object = await env.MEDIA.get(`clips/${clipId}.mp4`);
    const bytes = new Uint8Array(await (object?.arrayBuffer() ?? new ArrayBuffer(0)));
    const init = readInit(bytes);
    const seconds = readFragments(bytes, init).reduce((sum, f) => sum + getFragmentSeconds(f, init), 0);
    expect(Math.abs(seconds - 12)).toBeLessThan(0.5);
    const row = await env.DB.prepare('SELECT status FROM clips WHERE id = ?')
      .bind(clipId)
      .first<{ status: string }>();
    expect(row?.status).toBe('ready');
  });
});

describe('clip thumbnails', () => {
  it('keeps its own copy of the stream thumbnail, which still serves after the VOD is deleted', async () => {
    const viewer = await signUp('thumbs');
    const stream = await startSyntheticStream(['720p60'], 4);
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    await env.MEDIA.put(`streams/${stream.streamId}/thumbnail.jpg`, jpeg);
    await env.DB.prepare('UPDATE streams SET thumbnail_url = ? WHERE id = ?')
      .bind(`/live/${stream.channel.channelId}/${stream.streamId}/thumbnail.jpg`, stream.streamId)
      .run();
    const clipId = await createClip(viewer, stream, 5, -5);
    await deliver('clip-requests', [createEvent('clip.requested', { clip_id: clipId })]);

    await endSyntheticStream(stream);
    await deliverStreamEnded(stream, 8);
    const vodId = await deriveVodId(stream.streamId);
    expect(
      (
        await deleteVod(
          env,
          { id: vodId, stream_id: stream.streamId, channel_id: stream.channel.channelId },
          10_000,
        )
      ).done,
    ).toBe(true);
    expect(await env.MEDIA.head(`streams/${stream.streamId}/thumbnail.jpg`)).toBeNull();

    const clip = (await (await callApi(`/clips/${clipId}`)).json()) as {
      status: string;
      thumbnail_url: string;
    };
    expect(clip.status).toBe('ready');
    expect(clip.thumbnail_url).toBe(`http://localhost/clips/${clipId}.jpg`);
    const res = await SELF.fetch(`http://localhost/clips/${clipId}.jpg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(jpeg);
  });
});
