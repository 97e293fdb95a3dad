// The relay of a source to a standby node (docs/deploy.md, "Relayed standby") against two real RTMP
// servers and a real ffmpeg publisher: what the standby node is asked and receives, a relay its
// target dropped starting again, and the end of the relay unpublishing.
import { afterEach, describe, expect, it } from 'vitest';
import { buildRelayUrl, SourceRelay } from '../../../containers/transcoder/src/relay/source-relay.ts';
import { closeHarnesses, startHarness, urlFor } from '../rtmp/harness.ts';
import { probeFlv, spawnPublisher, waitFor } from '../rtmp/helpers.ts';

afterEach(closeHarnesses);

describe('SourceRelay', () => {
  it('publishes the key with relay=1, the stream name escaped', () => {
    expect(buildRelayUrl('rtmp://10.0.0.2:1935/live/', 'live_a/b?c')).toBe(
      'rtmp://10.0.0.2:1935/live/live_a%2Fb%3Fc?relay=1',
    );
  });

  it('copies a live source to another node as a relay=1 publish of the same key, starts again after that node drops it, and unpublishes when closed', async () => {
    const holder = await startHarness();
    const standby = await startHarness();
    const publisher = spawnPublisher(urlFor(holder, 'live_relaykey1'), 20);
    const logs: Array<Record<string, unknown>> = [];
    let relay: SourceRelay | null = null;
    try {
      await waitFor(() => holder.published.length === 1, 10_000, 'the encoder publish');
      const session = holder.published[0]?.session;
      if (session === undefined) throw new Error('no publish');
      let lookups = 0;
      relay = new SourceRelay({
        source: {
          streamKey: session.streamKey,
          onMedia: (listener) => session.onMedia(listener),
          hasVideo: () => session.stats.videoCodec !== null,
        },
        // No node has room at first: it looks again.
        findTarget: async () => (++lookups === 1 ? null : `rtmp://127.0.0.1:${standby.server.port}/live`),
        log: (event) => logs.push(event),
        retryMs: 200,
      });
      relay.start();
      await waitFor(() => (standby.published[0]?.mediaBytes ?? 0) > 40_000, 15_000, 'relayed media');
      expect(lookups).toBe(2);
      expect(standby.authorizeCalls[0]).toMatchObject({
        app: 'live',
        streamKey: 'live_relaykey1',
        relay: true,
        backup: false,
      });
      expect(standby.published[0]?.session.relay).toBe(true);
      expect(holder.published[0]?.session.relay).toBe(false);
      const streams = await probeFlv(Buffer.concat(standby.published[0]?.chunks ?? []));
      expect(streams.map((stream) => stream.codec_name).sort()).toEqual(['aac', 'h264']);
      expect(relay.stats()).toMatchObject({ running: true, starts: 1 });

      // The standby node drops it (its standby was replaced, or it restarted): the relay comes back.
      standby.published[0]?.session.close('kicked');
      await waitFor(() => (standby.published[1]?.mediaBytes ?? 0) > 10_000, 15_000, 'the relay again');
      expect(relay.stats().starts).toBe(2);
      expect(logs).toContainEqual(expect.objectContaining({ event: 'relay.ended' }));
      // No line names the key.
      expect(JSON.stringify(logs)).not.toContain('live_relaykey1');

      // The encoder stopped: the relay unpublishes, and the other node hears the same.
      relay.close({ graceful: true });
      await waitFor(() => standby.published[1]?.closeReason != null, 5_000, 'the relay to unpublish');
      expect(standby.published[1]?.closeReason).toBe('publisher_closed');
      expect(relay.stats().running).toBe(false);

      // Any other end (the connection lost, the node stopping): the other node sees a lost link.
      const second = new SourceRelay({
        source: {
          streamKey: session.streamKey,
          onMedia: (listener) => session.onMedia(listener),
          hasVideo: () => session.stats.videoCodec !== null,
        },
        findTarget: async () => `rtmp://127.0.0.1:${standby.server.port}/live`,
        log: (event) => logs.push(event),
      });
      second.start();
      await waitFor(() => (standby.published[2]?.mediaBytes ?? 0) > 10_000, 15_000, 'a second relay');
      second.close();
      await waitFor(() => standby.published[2]?.closeReason != null, 5_000, 'the second relay to drop');
      expect(standby.published[2]?.closeReason).toBe('publisher_lost');
      // The encoder's own publish is untouched.
      expect(holder.published[0]?.closeReason).toBeNull();
    } finally {
      relay?.close();
      publisher.kill();
    }
  }, 60_000);
});
