// A full fleet reaches the streamer: the origin refuses a node's publish authorization with 503
// fleet_full, and a real ffmpeg publisher hears NetStream.Publish.Failed with the origin's reason
// (ffmpeg prints the description), asked once, not retried as an outage would be.
import { afterEach, describe, expect, it } from 'vitest';
import { findFreePort, type ManagedProcess, startTranscoder } from '../../../scripts/lib/platform.ts';
import { spawnPublisher } from '../rtmp/helpers.ts';
import { type FakeOrigin, startFakeOrigin } from '../upload/fake-origin.ts';

const REASON = 'Every ingest server is full for this channel right now; try again in a few minutes';

describe('a publish refused by a full fleet', () => {
  let origin: FakeOrigin | undefined;
  let transcoder: ManagedProcess | undefined;

  afterEach(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('sends NetStream.Publish.Failed with the reason to the RTMP publisher, after one authorize call', async () => {
    origin = await startFakeOrigin();
    origin.respond((request) =>
      request.path.endsWith('/authorize')
        ? { status: 503, body: JSON.stringify({ error: { code: 'fleet_full', message: REASON } }) }
        : { status: 204 },
    );
    const lines: string[] = [];
    const rtmpPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'refusal-test-secret',
      env: { RTMP_HOST: '127.0.0.1', TRANSCODER_ENCODER: 'x264' },
      onLine: (line) => lines.push(line),
    });
    const publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/live_refused_key`, 20);
    try {
      const code = await Promise.race([
        publisher.exited,
        new Promise<'still publishing'>((resolve) => setTimeout(() => resolve('still publishing'), 15_000)),
      ]);
      expect(code).not.toBe(0);
      expect(code).not.toBe('still publishing');
      expect(publisher.stderr()).toContain(REASON);
      expect(origin.requests.filter((r) => r.path.endsWith('/authorize'))).toHaveLength(1);
      expect(origin.requests.filter((r) => r.method === 'PUT')).toEqual([]);
      const refused = lines.map((line) => JSON.parse(line)).find((l) => l.event === 'rtmp.publish_refused');
      expect(refused).toMatchObject({ reason: 'unavailable' });
    } finally {
      publisher.kill();
    }
  });
});
