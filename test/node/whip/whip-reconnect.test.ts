// A WHIP publisher that drops (its PeerConnection closed, no DELETE: a browser tab or network gone)
// and publishes again with the same key inside the reconnect window continues the same stream. The
// transcoder's half, on main.ts as it ships: the drop is noticed (no RTP for 10 s) and reported to
// the origin as `publisher_lost`, the key is free again on this node, and the new publish follows
// the origin's `continued` grant (same stream_id, the next media sequence number) as an RTMP
// reconnect does. The origin's half (same stream_id inside the window, whatever the transport) is
// tested against the real origin in test/e2e/live.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import {
  findFreePort,
  type ManagedProcess,
  startTranscoder,
  waitForTcp,
} from '../../../scripts/lib/platform.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';
import { publishOverWhip, type WhipPublisher } from './whip-publisher.ts';

const KEY = 'live_whip_reconnect_key';
const STREAM_ID = 'stream-reconnect';

/** /internal/ingest/:channelId/:publishId/:kind/... */
const partsOf = (origin: FakeOrigin, publishId: string): RecordedRequest[] =>
  origin.requests.filter((r) => r.path.split('/')[4] === publishId && r.path.split('/')[5] === 'part');
const msnOf = (request: RecordedRequest): number => Number(request.path.split('/')[7]);

describe('WHIP reconnect', () => {
  let origin: FakeOrigin;
  let transcoder: ManagedProcess;
  let whipUrl: string;
  const lines: string[] = [];
  const grants: AuthorizeResponse[] = [];

  beforeAll(async () => {
    origin = await startFakeOrigin();
    // The origin's rule (durable-objects/live-stream): a publish after a drop, inside the window,
    // continues the stream with a new publish id from the next media sequence number.
    origin.respond((request) => {
      if (!request.path.endsWith('/authorize')) return { status: 204 };
      const previous = grants.at(-1);
      const lastMsn =
        previous === undefined ? -1 : Math.max(-1, ...partsOf(origin, previous.publish_id).map(msnOf));
      const grant: AuthorizeResponse = {
        channel_id: 'chan-reconnect',
        stream_id: STREAM_ID,
        publish_id: `pub-${grants.length + 1}`,
        tier: 'none',
        continued: previous !== undefined,
        next_msn: lastMsn + 1,
      };
      grants.push(grant);
      return { status: 200, body: JSON.stringify(grant) };
    });
    const whipPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort: await findFreePort(),
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'whip-reconnect-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(await findFreePort()),
        WHIP_ICE_BIND: '127.0.0.1',
      },
      onLine: (line) => lines.push(line),
    });
    await waitForTcp(whipPort, 10_000);
    whipUrl = `http://127.0.0.1:${whipPort}/whip`;
  }, 30_000);

  afterAll(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('continues the same stream when a dropped publisher (no DELETE) publishes again with the same key', async () => {
    let publisher: WhipPublisher | null = await publishOverWhip(whipUrl, KEY, 60);
    try {
      expect(publisher.status).toBe(201);
      await waitFor(() => partsOf(origin, 'pub-1').length >= 5, 25_000, 'parts of the first publish');
      // The publisher's tab dies: its PeerConnection and encoder stop, nothing tells the server.
      publisher.close();
      publisher = null;
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/pub-1/end')),
        20_000,
        'the drop to be reported',
      );
      const end = origin.requests.find((r) => r.path.endsWith('/pub-1/end'));
      expect(JSON.parse(end?.body.toString() ?? '{}')).toEqual({ reason: 'publisher_lost' });
      const lastMsnBefore = Math.max(...partsOf(origin, 'pub-1').map(msnOf));

      publisher = await publishOverWhip(whipUrl, KEY, 60);
      expect(publisher.status).toBe(201);
      expect(grants).toHaveLength(2);
      expect(grants[1]).toMatchObject({ stream_id: STREAM_ID, continued: true, next_msn: lastMsnBefore + 1 });
      await waitFor(() => partsOf(origin, 'pub-2').length >= 3, 25_000, 'parts of the reconnected publish');
      // The same stream goes on where it stopped: no media sequence number is used twice.
      expect(Math.min(...partsOf(origin, 'pub-2').map(msnOf))).toBe(lastMsnBefore + 1);
      const pipelineLines = lines.filter((line) => line.includes('"event":"pipeline.transcode_starting"'));
      expect(pipelineLines).toHaveLength(2);
      expect(pipelineLines.every((line) => line.includes(`"stream_id":"${STREAM_ID}"`))).toBe(true);
    } finally {
      publisher?.close();
    }
  }, 90_000);
});
