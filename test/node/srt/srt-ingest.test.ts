// SRT ingest through the whole transcoder service (main.ts as it ships, SRT_PORT set) against an
// HTTP origin: ffmpeg's libsrt caller publishes with a passphrase and the stream's parts reach the
// origin; a wrong key and a wrong passphrase are refused in the handshake with nothing created
// (no authorize call); a caller dropped without a SHUTDOWN is reported `publisher_lost`, and its
// reconnect inside the window follows the origin's `continued` grant (same stream_id, the next media
// sequence number), as an RTMP or WHIP reconnect does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';
import { findFreePort, type ManagedProcess, startTranscoder } from '../../../scripts/lib/platform.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';
import { findFreeUdpPort, type SrtPublisher, spawnSrtPublisher, srtUrl } from './srt-publisher.ts';

const KEY = 'live_srt_ingest_key';
const PASSPHRASE = 'srt-ingest-passphrase-42';
const STREAM_ID = 'stream-srt';

const partsOf = (origin: FakeOrigin, publishId: string): RecordedRequest[] =>
  origin.requests.filter((r) => r.path.split('/')[4] === publishId && r.path.split('/')[5] === 'part');
const msnOf = (request: RecordedRequest): number => Number(request.path.split('/')[7]);
const authorizeCalls = (origin: FakeOrigin) => origin.requests.filter((r) => r.path.endsWith('/authorize'));

describe('SRT ingest', () => {
  let origin: FakeOrigin;
  let transcoder: ManagedProcess;
  let srtPort: number;
  const lines: string[] = [];
  const grants: AuthorizeResponse[] = [];

  beforeAll(async () => {
    origin = await startFakeOrigin();
    // The origin's rules: the passphrase lookup knows one key; a publish after a drop, inside the
    // window, continues the stream with a new publish id from the next media sequence number.
    origin.respond((request) => {
      if (request.path.endsWith('/srt-passphrase')) {
        const body = JSON.parse(request.body.toString()) as { stream_key?: string };
        return body.stream_key === KEY
          ? { status: 200, body: JSON.stringify({ passphrase: PASSPHRASE }) }
          : {
              status: 403,
              body: JSON.stringify({ error: { code: 'bad_stream_key', message: 'Unknown stream key' } }),
            };
      }
      if (!request.path.endsWith('/authorize')) return { status: 204 };
      const previous = grants.at(-1);
      const lastMsn =
        previous === undefined ? -1 : Math.max(-1, ...partsOf(origin, previous.publish_id).map(msnOf));
      const grant: AuthorizeResponse = {
        channel_id: 'chan-srt',
        stream_id: STREAM_ID,
        publish_id: `pub-${grants.length + 1}`,
        tier: 'none',
        continued: previous !== undefined,
        next_msn: lastMsn + 1,
      };
      grants.push(grant);
      return { status: 200, body: JSON.stringify(grant) };
    });
    srtPort = await findFreeUdpPort();
    transcoder = await startTranscoder({
      rtmpPort: await findFreePort(),
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'srt-ingest-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        SRT_PORT: String(srtPort),
        SRT_HOST: '127.0.0.1',
        SRT_MEDIA_TIMEOUT_MS: '3000',
      },
      onLine: (line) => lines.push(line),
    });
    await waitFor(
      () => lines.some((line) => line.includes('"event":"transcoder.listening"')),
      20_000,
      'the listener',
    );
  }, 40_000);

  afterAll(async () => {
    await transcoder?.stop();
    await origin?.close();
  });

  it('refuses a wrong passphrase in the handshake: the origin is never asked to authorize', async () => {
    const publisher = spawnSrtPublisher(srtUrl(srtPort, KEY, 'not-the-passphrase-00'), 5);
    expect(await publisher.exited).not.toBe(0);
    expect(
      lines.some((line) => line.includes('"reason":"bad_passphrase"') && line.includes('"rejection":1010')),
    ).toBe(true);
    expect(authorizeCalls(origin)).toEqual([]);
  }, 30_000);

  it('refuses an unknown key in the handshake with nothing created, and a caller without a passphrase', async () => {
    const wrongKey = spawnSrtPublisher(srtUrl(srtPort, 'live_not_a_channel', PASSPHRASE), 5);
    expect(await wrongKey.exited).not.toBe(0);
    expect(
      lines.some((line) => line.includes('"reason":"bad_key"') && line.includes('"rejection":2401')),
    ).toBe(true);
    const clear = spawnSrtPublisher(srtUrl(srtPort, KEY, null), 5);
    expect(await clear.exited).not.toBe(0);
    expect(
      lines.some((line) => line.includes('"reason":"no_passphrase"') && line.includes('"rejection":1011')),
    ).toBe(true);
    expect(authorizeCalls(origin)).toEqual([]);
  }, 30_000);

  it('publishes with a passphrase, and a dropped caller reconnecting inside the window continues the stream', async () => {
    // The access-control form of the streamid, as a caller that names its mode sends it.
    let publisher: SrtPublisher | null = spawnSrtPublisher(
      srtUrl(srtPort, `#!::r=${KEY},m=publish`, PASSPHRASE),
      60,
    );
    try {
      await waitFor(() => partsOf(origin, 'pub-1').length >= 5, 30_000, 'parts of the first publish');
      // The caller vanishes (SIGKILL: no SHUTDOWN), as a phone losing its network does.
      publisher.kill();
      publisher = null;
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/pub-1/end')),
        20_000,
        'the drop to be reported',
      );
      const end = origin.requests.find((r) => r.path.endsWith('/pub-1/end'));
      expect(JSON.parse(end?.body.toString() ?? '{}')).toEqual({ reason: 'publisher_lost' });
      const lastMsnBefore = Math.max(...partsOf(origin, 'pub-1').map(msnOf));

      publisher = spawnSrtPublisher(srtUrl(srtPort, KEY, PASSPHRASE), 60);
      await waitFor(() => partsOf(origin, 'pub-2').length >= 3, 30_000, 'parts of the reconnected publish');
      expect(grants).toHaveLength(2);
      expect(grants[1]).toMatchObject({ stream_id: STREAM_ID, continued: true, next_msn: lastMsnBefore + 1 });
      expect(Math.min(...partsOf(origin, 'pub-2').map(msnOf))).toBe(lastMsnBefore + 1);
      const pipelineLines = lines.filter((line) => line.includes('"event":"pipeline.transcode_starting"'));
      expect(pipelineLines).toHaveLength(2);
      expect(pipelineLines.every((line) => line.includes(`"stream_id":"${STREAM_ID}"`))).toBe(true);
    } finally {
      publisher?.kill();
    }
  }, 120_000);
});
