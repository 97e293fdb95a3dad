import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CutOffError,
  IngestClient,
  IngestRequestError,
} from '../../../containers/transcoder/src/upload/ingest-client.ts';
import { INGEST_META_HEADER, IngestMeta } from '../../../protocol/ingest.ts';
import { type FakeOrigin, startFakeOrigin } from './fake-origin.ts';

const SECRET = 'test-ingest-secret';
const PUBLISH = { channelId: 'chan-1', publishId: 'pub 2' };
const GRANT = {
  channel_id: 'chan-1',
  stream_id: 'stream-1',
  publish_id: 'pub-2',
  tier: 'partner',
  continued: false,
  next_msn: 0,
};

function readMeta(origin: FakeOrigin, index: number): IngestMeta {
  const header = origin.requests[index]?.headers[INGEST_META_HEADER];
  return IngestMeta.parse(JSON.parse(typeof header === 'string' ? header : 'null'));
}

describe('ingest client against a local origin', () => {
  let origin: FakeOrigin;
  let client: IngestClient;

  beforeEach(async () => {
    origin = await startFakeOrigin();
    client = new IngestClient({
      baseUrl: `${origin.baseUrl}/`,
      secret: SECRET,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
    });
  });

  afterEach(async () => {
    await origin.close();
  });

  it('sends media to the protocol paths with the bearer secret and the meta header', async () => {
    const init = Buffer.from('ftyp+moov');
    const part = Buffer.from('moof+mdat');
    await client.putInit(
      PUBLISH,
      {
        rendition: '720p60',
        codecs: 'avc1.64001f,mp4a.40.2',
        bandwidth: 3_200_000,
        average_bandwidth: 3_000_000,
        width: 1280,
        height: 720,
        frame_rate: 60,
        part_target: 0.2,
      },
      init,
    );
    await client.putPart(
      PUBLISH,
      { rendition: '720p60', msn: 12, part: 3, duration: 0.2, independent: false, pdt: 1_700_000_000_600 },
      part,
    );
    await client.putSegment(
      PUBLISH,
      { rendition: 'audio', msn: 12, duration: 1.92, parts: 9, pdt: 1_700_000_000_000 },
      part,
    );
    await client.putThumbnail(PUBLISH, Buffer.from([0xff, 0xd8, 0xff]));
    await client.heartbeat(PUBLISH);
    await client.end(PUBLISH, { reason: 'publisher_closed' });

    expect(origin.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      'PUT /internal/ingest/chan-1/pub%202/init/720p60',
      'PUT /internal/ingest/chan-1/pub%202/part/720p60/12/3',
      'PUT /internal/ingest/chan-1/pub%202/segment/audio/12',
      'PUT /internal/ingest/chan-1/pub%202/thumbnail',
      'POST /internal/ingest/chan-1/pub%202/heartbeat',
      'POST /internal/ingest/chan-1/pub%202/end',
    ]);
    for (const request of origin.requests) expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(origin.requests[0]?.body.equals(init)).toBe(true);
    expect(origin.requests[1]?.body.equals(part)).toBe(true);
    expect(readMeta(origin, 0)).toMatchObject({
      kind: 'init',
      rendition: '720p60',
      codecs: 'avc1.64001f,mp4a.40.2',
      part_target: 0.2,
    });
    expect(readMeta(origin, 1)).toEqual({
      kind: 'part',
      rendition: '720p60',
      msn: 12,
      part: 3,
      duration: 0.2,
      independent: false,
      pdt: 1_700_000_000_600,
    });
    expect(readMeta(origin, 2)).toMatchObject({ kind: 'segment', msn: 12, parts: 9 });
    expect(origin.requests[3]?.headers['content-type']).toBe('image/jpeg');
    expect(JSON.parse(origin.requests[5]?.body.toString() ?? '')).toEqual({ reason: 'publisher_closed' });
  });

  it('retries a 503 and succeeds on a later attempt', async () => {
    let calls = 0;
    origin.respond(() => {
      calls += 1;
      return { status: calls < 3 ? 503 : 204 };
    });
    await client.putPart(
      PUBLISH,
      { rendition: 'source', msn: 0, part: 0, duration: 0.2, independent: true, pdt: 1 },
      Buffer.from('x'),
    );
    expect(origin.requests).toHaveLength(3);
    expect(new Set(origin.requests.map((request) => request.path)).size).toBe(1);
  });

  it('gives up after the retry budget when the origin stays down', async () => {
    origin.respond(() => ({ status: 500 }));
    const attempt = client.heartbeat(PUBLISH);
    await expect(attempt).rejects.toBeInstanceOf(IngestRequestError);
    await expect(attempt).rejects.toMatchObject({ status: 500, attempts: 5 });
    expect(origin.requests).toHaveLength(5);
  });

  it('does not retry a 403', async () => {
    origin.respond(() => ({ status: 403, body: '{"error":{"code":"forbidden","message":"no"}}' }));
    await expect(
      client.putSegment(
        PUBLISH,
        { rendition: 'source', msn: 1, duration: 2, parts: 10, pdt: 1 },
        Buffer.from('x'),
      ),
    ).rejects.toMatchObject({ status: 403 });
    expect(origin.requests).toHaveLength(1);
  });

  it('surfaces a 409 on any call as CutOffError, without retrying', async () => {
    origin.respond(() => ({ status: 409 }));
    await expect(client.heartbeat(PUBLISH)).rejects.toBeInstanceOf(CutOffError);
    await expect(
      client.putPart(
        PUBLISH,
        { rendition: 'audio', msn: 0, part: 0, duration: 0.21, independent: true, pdt: 1 },
        Buffer.from('x'),
      ),
    ).rejects.toBeInstanceOf(CutOffError);
    expect(origin.requests).toHaveLength(2);
  });

  it('maps authorize answers to a grant, bad_key, already_publishing or unavailable', async () => {
    origin.respond(() => ({ status: 200, body: JSON.stringify(GRANT) }));
    expect(await client.authorize({ stream_key: 'live_abc', client_ip: '127.0.0.1' })).toEqual({
      ok: true,
      grant: GRANT,
    });
    expect(origin.requests[0]?.path).toBe('/internal/ingest/authorize');
    expect(JSON.parse(origin.requests[0]?.body.toString() ?? '')).toEqual({
      stream_key: 'live_abc',
      client_ip: '127.0.0.1',
    });

    origin.respond(() => ({ status: 403 }));
    expect(await client.authorize({ stream_key: 'wrong' })).toEqual({ ok: false, reason: 'bad_key' });
    origin.respond(() => ({ status: 409 }));
    expect(await client.authorize({ stream_key: 'live_abc' })).toEqual({
      ok: false,
      reason: 'already_publishing',
    });
    origin.respond(() => ({ status: 503 }));
    expect(await client.authorize({ stream_key: 'live_abc' })).toEqual({ ok: false, reason: 'unavailable' });
    origin.respond(() => ({ status: 200, body: '{"channel_id":1}' }));
    expect(await client.authorize({ stream_key: 'live_abc' })).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('reports unavailable when nothing listens at the origin address', async () => {
    await origin.close();
    const orphan = new IngestClient({
      baseUrl: origin.baseUrl,
      secret: SECRET,
      retry: { attempts: 2, baseDelayMs: 5 },
    });
    expect(await orphan.authorize({ stream_key: 'live_abc' })).toEqual({ ok: false, reason: 'unavailable' });
    origin = await startFakeOrigin();
  });
});
