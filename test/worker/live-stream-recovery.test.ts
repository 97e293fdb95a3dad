// A LiveStream object can be evicted at any time; a new instance must rebuild the same playlists
// from its SQLite rows. The test builds a second instance on the same storage and compares.
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LiveStream } from '../../durable-objects/live-stream/live-stream.ts';
import { createTestChannel, postIngest, putInit, putPart, startTestStream } from './origin-fixtures.ts';

describe('LiveStream recovery', () => {
  it('renders the same playlists and summary after the object is rebuilt from storage', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source', 'audio'], 3);
    await putInit(publish, 'audio');
    await putPart(publish, 'source', 3, 0);
    await putPart(publish, 'source', 3, 1);
    const stub = env.LIVE_STREAM.getByName(channel.channelId);

    await runInDurableObject(stub, async (original: LiveStream, state) => {
      const fresh = new LiveStream(state, env);
      await state.blockConcurrencyWhile(async () => {});
      for (const rendition of ['source', 'audio'] as const) {
        const before = await original.getMediaPlaylist(rendition, { skip: false });
        const after = await fresh.getMediaPlaylist(rendition, { skip: false });
        expect(before.kind).toBe('ok');
        expect(after).toEqual(before);
      }
      expect(fresh.getMultivariantPlaylist()).toBe(original.getMultivariantPlaylist());
      const { last_part_at: _ignored, ...summary } = original.getSummary();
      expect(fresh.getSummary()).toMatchObject(summary);
      // The rebuilt object still knows who publishes.
      expect(fresh.heartbeat(publish.publish_id)).toBe(true);
    });
  });

  it('keeps the reconnect window across a rebuild', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    await postIngest(publish, 'end', { reason: 'publisher_lost' });
    const stub = env.LIVE_STREAM.getByName(channel.channelId);
    await runInDurableObject(stub, async (_original: LiveStream, state) => {
      const fresh = new LiveStream(state, env);
      await state.blockConcurrencyWhile(async () => {});
      expect(fresh.getSummary()).toMatchObject({ stream_id: publish.stream_id, status: 'reconnecting' });
      const result = await fresh.beginPublish({
        channelId: channel.channelId,
        tier: 'partner',
        defaults: { title: '', category_id: null, language: 'en', tags: [] },
      });
      expect(result).toMatchObject({
        ok: true,
        value: { stream_id: publish.stream_id, continued: true, next_msn: 1 },
      });
    });
  });
});
