// A clip deleted while its job is cutting it: DELETE /clips/{id} removes the row and the media
// that exists so far, and the job, still running, uploads the MP4 and thumbnail after that. The job
// must notice that its row is gone when it settles and delete what it uploaded, or the clip stays
// public at its immutable URL (workers/clips/clip-job.ts).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { processClip } from '../../workers/clips/clip-job.ts';
import { vodPlaybackApp } from '../../workers/origin/vod-playback.ts';
import { callApi, signUp } from './api-helpers.ts';
import { listKeys, startSyntheticStream } from './vod-fixtures.ts';

/** env with a bucket that runs `beforePut` once, just before the first upload of `key`. */
function raceBeforeUpload(key: string, beforePut: () => Promise<void>): Env {
  let fired = false;
  const bucket = new Proxy(env.MEDIA, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (property === 'put') {
        return async (...args: Parameters<R2Bucket['put']>) => {
          if (!fired && args[0] === key) {
            fired = true;
            await beforePut();
          }
          return target.put(...args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...env, MEDIA: bucket };
}

describe('a clip deleted while it is processed', () => {
  it('leaves no media behind when the delete lands between the job start and its upload', async () => {
    const stream = await startSyntheticStream(['720p60'], 4);
    const creator = await signUp('racer');
    const created = await callApi('/clips', {
      method: 'POST',
      token: creator.token,
      body: { stream_id: stream.streamId, title: 'Gone soon', duration_seconds: 5, offset_seconds: -5 },
    });
    expect(created.status).toBe(202);
    const clipId = z.object({ clip_id: z.string() }).parse(await created.json()).clip_id;
    let deleteStatus = 0;
    const racedEnv = raceBeforeUpload(`clips/${clipId}.mp4`, async () => {
      deleteStatus = (await callApi(`/clips/${clipId}`, { method: 'DELETE', token: creator.token })).status;
    });

    await processClip(racedEnv, clipId, Date.now());

    expect(deleteStatus).toBe(204);
    expect(await listKeys(`clips/${clipId}`)).toEqual([]);
    const media = await vodPlaybackApp.request(`http://localhost/clips/${clipId}.mp4`, {}, env);
    expect(media.status).toBe(404);
    expect((await callApi(`/clips/${clipId}`)).status).toBe(404);
  });
});
