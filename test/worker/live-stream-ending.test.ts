// Ending and announcing a stream survive a transient failure: the D1 update and the queue send are
// retried until both happen (the alarm for the end, the next part for going live), and the cron's
// reconciliation settles rows the LiveStream object has ended or moved past. The failing queue is a
// fake at the narrowest seam: the object's STREAM_EVENTS binding, swapped on the one instance by
// the test subclass (test/worker/test-entry.ts).
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PENDING_STREAM_TTL_MS, reconcileStreams } from '../../workers/origin/reconcile-streams.ts';
import {
  authorizePublish,
  createTestChannel,
  postIngest,
  putInit,
  putPart,
  runInTestLiveStream,
  startTestStream,
} from './origin-fixtures.ts';
import type { LiveStream } from './test-entry.ts';

interface Recorder {
  sent: unknown[];
  failing: boolean;
}

/** Replaces the instance's STREAM_EVENTS with one that records, or fails while `failing` is set. */
function installQueue(instance: LiveStream, recorder: Recorder): void {
  const queue = {
    send: async (message: unknown) => {
      if (recorder.failing) throw new Error('queue unavailable');
      recorder.sent.push(message);
    },
  };
  // The seam: the test subclass's queue swap (test/worker/test-entry.ts); the fake only sends.
  instance.setStreamEvents(queue as unknown as Queue);
}

function readEventTypes(recorder: Recorder): string[] {
  return recorder.sent.map((message) => String((message as { type?: unknown }).type));
}

async function readStatus(streamId: string): Promise<string | undefined> {
  const row = await env.DB.prepare('SELECT status FROM streams WHERE id = ?')
    .bind(streamId)
    .first<{ status: string }>();
  return row?.status;
}

describe('ending a stream', () => {
  it('still ends the stream and queues stream.ended when the alarm is retried after a failed queue send', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 2);
    await postIngest(publish, 'end', { reason: 'publisher_lost' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    const recorder: Recorder = { sent: [], failing: true };
    await runInTestLiveStream(stub, async (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
      installQueue(instance, recorder);
      await expect(instance.alarm()).rejects.toThrow('queue unavailable');
      // Viewers see the end at once; the stream is not settled yet.
      expect(instance.getSummary().status).toBe('ended');
      // The runtime retries a failed alarm; this time the queue takes the event.
      recorder.failing = false;
      await instance.alarm();
      await instance.alarm();
    });
    expect(readEventTypes(recorder)).toEqual(['stream.ended']);
    expect(await readStatus(publish.stream_id)).toBe('ended');
  });

  it('finishes an interrupted end before a new publish starts the next stream', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await postIngest(publish, 'end', { reason: 'publisher_lost' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    const recorder: Recorder = { sent: [], failing: true };
    await runInTestLiveStream(stub, async (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
      installQueue(instance, recorder);
      await expect(instance.alarm()).rejects.toThrow('queue unavailable');
      recorder.failing = false;
    });
    const next = await authorizePublish(channel.streamKey);
    expect(next.continued).toBe(false);
    expect(next.stream_id).not.toBe(publish.stream_id);
    expect(readEventTypes(recorder)).toEqual(['stream.ended']);
    expect(await readStatus(publish.stream_id)).toBe('ended');
  });
});

describe('going live', () => {
  it('announces the stream on a later part when the first part could not queue stream.started', async () => {
    const channel = await createTestChannel();
    const publish = await authorizePublish(channel.streamKey);
    await putInit(publish, 'source');
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    const recorder: Recorder = { sent: [], failing: true };
    await runInTestLiveStream(stub, (instance) => installQueue(instance, recorder));
    // The part itself is listed either way: its upload does not fail for the announcement.
    expect((await putPart(publish, 'source', 0, 0)).status).toBe(204);
    expect(recorder.sent).toEqual([]);
    recorder.failing = false;
    expect((await putPart(publish, 'source', 0, 1)).status).toBe(204);
    expect((await putPart(publish, 'source', 0, 2)).status).toBe(204);
    expect(readEventTypes(recorder)).toEqual(['stream.started']);
    expect(await readStatus(publish.stream_id)).toBe('live');
  });
});

describe('stream reconciliation', () => {
  it('settles a row the object ended but D1 still calls live, and queues its stream.ended', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await postIngest(publish, 'end', { reason: 'publisher_lost' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    const recorder: Recorder = { sent: [], failing: true };
    await runInTestLiveStream(stub, async (instance) => {
      instance.setTimings({ reconnectWindowMs: 0 });
      installQueue(instance, recorder);
      // Every retry of the alarm failed: the object is left 'ending' and D1 says live.
      await expect(instance.alarm()).rejects.toThrow('queue unavailable');
      recorder.failing = false;
    });
    expect(await readStatus(publish.stream_id)).toBe('ended');
    await env.DB.prepare("UPDATE streams SET status = 'live' WHERE id = ?").bind(publish.stream_id).run();

    // The cursor wraps, so within a few runs every live or pending row of the database is looked at.
    let outcome: string | undefined;
    for (let run = 0; run < 40 && outcome === undefined; run++) {
      outcome = (await reconcileStreams(env, Date.now())).get(publish.stream_id);
    }
    expect(outcome).toBe('settled');
    expect(await readStatus(publish.stream_id)).toBe('ended');
    expect(readEventTypes(recorder)).toEqual(['stream.ended']);
  });

  it('ends an abandoned pending row and a live row the object has moved past, and leaves a live stream alone', async () => {
    const channel = await createTestChannel();
    const live = await startTestStream(channel, ['source'], 1);
    const now = Date.now();
    const abandoned = crypto.randomUUID();
    const orphan = crypto.randomUUID();
    const fresh = crypto.randomUUID();
    const insert = env.DB.prepare(
      `INSERT INTO streams (id, channel_id, title, category_id, language, tags, status, started_at, created_at)
       VALUES (?, ?, 't', NULL, 'en', '[]', ?, ?, ?)`,
    );
    await env.DB.batch([
      insert.bind(abandoned, channel.channelId, 'pending', null, now - PENDING_STREAM_TTL_MS - 1000),
      insert.bind(orphan, channel.channelId, 'live', now - 60_000, now - 120_000),
      insert.bind(fresh, channel.channelId, 'pending', null, now - 1000),
    ]);
    const seen = new Map<string, string>();
    for (let run = 0; run < 40 && seen.size < 4; run++) {
      for (const [id, outcome] of await reconcileStreams(env, now)) {
        if ([abandoned, orphan, fresh, live.stream_id].includes(id)) seen.set(id, outcome);
      }
    }
    expect(seen.get(abandoned)).toBe('settled');
    expect(seen.get(orphan)).toBe('settled');
    expect(seen.get(fresh)).toBe('active');
    expect(seen.get(live.stream_id)).toBe('active');
    expect(await readStatus(abandoned)).toBe('ended');
    expect(await readStatus(orphan)).toBe('ended');
    expect(await readStatus(fresh)).toBe('pending');
    expect(await readStatus(live.stream_id)).toBe('live');
  });
});
