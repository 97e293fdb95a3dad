// The transcoder as it ships: main.ts as its own process, publishing over a real RTMP socket from
// ffmpeg, talking to an origin stand-in on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { findFreePort, type ManagedProcess, startTranscoder } from '../../../scripts/lib/platform.ts';
import { spawnPublisher, waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';

const GRANT: AuthorizeResponse = {
  channel_id: 'chan-9',
  stream_id: 'stream-9',
  publish_id: 'pub-9',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

const kindOf = (request: RecordedRequest): string => request.path.split('/')[5] ?? '';

describe('transcoder service', () => {
  let origin: FakeOrigin | undefined;
  let transcoder: ManagedProcess | undefined;

  afterEach(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('drops a publish the origin cut off without calling /end, and logs the close as kicked', async () => {
    origin = await startFakeOrigin();
    let cutOff = false;
    origin.respond((request) => {
      if (request.path.endsWith('/authorize')) return { status: 200, body: JSON.stringify(GRANT) };
      if (kindOf(request) === 'heartbeat' && cutOff) return { status: 409 };
      return { status: 204 };
    });
    const lines: string[] = [];
    const rtmpPort = await findFreePort();
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'service-test-secret',
      env: { RTMP_HOST: '127.0.0.1', TRANSCODER_ENCODER: 'x264' },
      onLine: (line) => lines.push(line),
    });
    const publisher = spawnPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/live_service_key`, 30);
    try {
      await waitFor(
        () => origin?.requests.some((r) => kindOf(r) === 'heartbeat') ?? false,
        15_000,
        'a heartbeat',
      );
      // The stream key is reset at the origin: the next heartbeat answers 409.
      cutOff = true;
      const code = await Promise.race([
        publisher.exited,
        new Promise<'still publishing'>((resolve) => setTimeout(() => resolve('still publishing'), 15_000)),
      ]);
      expect(code).not.toBe('still publishing');
      await waitFor(
        () => lines.some((line) => line.includes('"event":"pipeline.closed"')),
        10_000,
        'the pipeline to close',
      );
      const closed = lines.find((line) => line.includes('"event":"pipeline.closed"')) ?? '';
      expect(JSON.parse(closed)).toMatchObject({ reason: 'kicked', stream_id: 'stream-9' });
      expect(origin.requests.filter((r) => kindOf(r) === 'end')).toEqual([]);
    } finally {
      publisher.kill();
    }
  });
});
