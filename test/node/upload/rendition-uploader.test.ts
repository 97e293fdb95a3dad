import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIO_PART_TARGET_SECONDS, CmafPackager } from '../../../containers/transcoder/src/cmaf/packager.ts';
import { IngestClient } from '../../../containers/transcoder/src/upload/ingest-client.ts';
import {
  RenditionUploader,
  type UploadItem,
} from '../../../containers/transcoder/src/upload/rendition-uploader.ts';
import { buildUploadItem } from '../../../containers/transcoder/src/upload/upload-items.ts';
import { INGEST_META_HEADER, IngestMeta } from '../../../protocol/ingest.ts';
import { runMediaTool } from '../ffmpeg/media-fixtures.ts';
import { type FakeOrigin, startFakeOrigin } from './fake-origin.ts';

const PUBLISH = { channelId: 'chan-1', publishId: 'pub-1' };

function makePart(msn: number, part: number): UploadItem {
  return {
    kind: 'part',
    meta: {
      rendition: 'source',
      msn,
      part,
      duration: 0.2,
      independent: part === 0,
      pdt: 1000 + msn * 2000 + part * 200,
    },
    bytes: Buffer.from(`part ${msn}.${part}`),
  };
}

function makeSegment(msn: number): UploadItem {
  return {
    kind: 'segment',
    meta: { rendition: 'source', msn, duration: 2, parts: 10, pdt: 1000 + msn * 2000 },
    bytes: Buffer.from(`segment ${msn}`),
  };
}

const INIT: UploadItem = {
  kind: 'init',
  meta: {
    rendition: 'source',
    codecs: 'avc1.64001f,mp4a.40.2',
    bandwidth: 6_000_000,
    average_bandwidth: 6_000_000,
    part_target: 0.2,
  },
  bytes: Buffer.from('init'),
};

describe('rendition uploader', () => {
  let origin: FakeOrigin;
  let client: IngestClient;
  const logs: string[] = [];

  beforeEach(async () => {
    origin = await startFakeOrigin();
    client = new IngestClient({
      baseUrl: origin.baseUrl,
      secret: 's',
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    });
    logs.length = 0;
  });

  afterEach(async () => {
    await origin.close();
  });

  it('uploads one rendition strictly in the order produced, even when the origin answers slowly', async () => {
    // Random latency per request: an uploader that sent in parallel would arrive out of order.
    origin.respond(() => ({ status: 204, delayMs: Math.floor(Math.random() * 15) }));
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      log: (line) => logs.push(line),
    });
    const items = [
      INIT,
      ...Array.from({ length: 10 }, (_, part) => makePart(0, part)),
      makeSegment(0),
      makePart(1, 0),
    ];
    for (const item of items) uploader.enqueue(item);
    expect(await uploader.close(5000)).toBe(true);
    expect(origin.requests.map((request) => request.path.split('/').slice(5).join('/'))).toEqual([
      'init/source',
      ...Array.from({ length: 10 }, (_, part) => `part/source/0/${part}`),
      'segment/source/0',
      'part/source/1/0',
    ]);
    const stats = uploader.stats();
    expect(stats.uploaded).toBe(items.length);
    expect(stats.latencyMs.count).toBe(items.length);
    expect(stats.latencyMs.max).toBeGreaterThanOrEqual(stats.latencyMs.p50);
    expect(stats.latencyMs.p50).toBeGreaterThan(0);
    expect(stats.droppedParts).toBe(0);
  });

  it('sheds the oldest parts but keeps every init and segment while the origin is down', async () => {
    let down = true;
    const accepted: string[] = [];
    origin.respond((request) => {
      if (down) return { status: 503 };
      accepted.push(request.path.split('/').slice(5).join('/'));
      return { status: 204 };
    });
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      maxQueuedParts: 5,
      log: (line) => logs.push(line),
    });
    uploader.enqueue(INIT);
    for (let msn = 0; msn < 3; msn += 1) {
      for (let part = 0; part < 10; part += 1) uploader.enqueue(makePart(msn, part));
      uploader.enqueue(makeSegment(msn));
    }
    expect(uploader.stats().droppedParts).toBe(25);
    expect(logs.some((line) => line.includes('dropped'))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    down = false;
    expect(await uploader.close(10_000)).toBe(true);

    // The init is sent again until it lands; segments all arrive; only the 5 newest parts survive.
    expect(accepted).toEqual([
      'init/source',
      'segment/source/0',
      'segment/source/1',
      ...Array.from({ length: 5 }, (_, index) => `part/source/2/${index + 5}`),
      'segment/source/2',
    ]);
    expect(uploader.stats()).toMatchObject({ uploaded: 9, droppedParts: 25, failed: 0, pending: 0 });
  });

  it('gives up once the origin has been down for more segment media than the backlog bound, and reports it', async () => {
    origin.respond(() => ({ status: 503 }));
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      maxBacklogSeconds: 7,
      log: (line) => logs.push(line),
    });
    const overflows: Error[] = [];
    uploader.onOverflow((error) => overflows.push(error));
    uploader.enqueue(INIT);
    // 2 s segments: 8 s unsent after the fourth.
    for (let msn = 0; msn < 3; msn += 1) uploader.enqueue(makeSegment(msn));
    expect(overflows).toEqual([]);
    expect(uploader.stats().pending).toBeGreaterThan(0);
    uploader.enqueue(makeSegment(3));
    expect(overflows.map((error) => error.name)).toEqual(['UploadBacklogError']);
    expect(uploader.stats().pending).toBe(0);
    expect(logs.some((line) => line.includes('giving up'))).toBe(true);
    // Nothing more is queued or sent after giving up, and the listener is told once.
    for (let msn = 4; msn < 20; msn += 1) uploader.enqueue(makeSegment(msn));
    expect(uploader.stats().pending).toBe(0);
    expect(overflows).toHaveLength(1);
    await uploader.close(2000);
    const sent = origin.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(origin.requests.length).toBe(sent);
    expect(origin.requests.every((request) => !request.path.includes('/segment/source/4'))).toBe(true);
  });

  it('gives up on an init the origin keeps refusing once it has waited longer than the backlog bound', async () => {
    origin.respond(() => ({ status: 503 }));
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      maxBacklogSeconds: 0.5,
      log: (line) => logs.push(line),
    });
    const overflowed = new Promise<Error>((resolve) => uploader.onOverflow(resolve));
    const started = Date.now();
    uploader.enqueue(INIT);
    expect((await overflowed).name).toBe('UploadBacklogError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(await uploader.close(1000)).toBe(true);
  });

  it('stops and reports a cut-off when the origin answers 409', async () => {
    origin.respond((request) => ({ status: request.path.includes('/part/source/0/2') ? 409 : 204 }));
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      log: (line) => logs.push(line),
    });
    const cutOff = new Promise<Error>((resolve) => uploader.onCutOff(resolve));
    uploader.enqueue(INIT);
    for (let part = 0; part < 6; part += 1) uploader.enqueue(makePart(0, part));
    expect((await cutOff).name).toBe('CutOffError');
    await uploader.close(1000);
    expect(origin.requests).toHaveLength(4);
    uploader.enqueue(makePart(0, 6));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(origin.requests).toHaveLength(4);
  });

  it('gives up on close when the deadline passes', async () => {
    origin.respond(() => ({ status: 204, delayMs: 300 }));
    const uploader = new RenditionUploader({
      sink: client,
      publish: PUBLISH,
      log: (line) => logs.push(line),
    });
    for (let part = 0; part < 5; part += 1) uploader.enqueue(makePart(0, part));
    const started = Date.now();
    expect(await uploader.close(200)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(logs.some((line) => line.includes('deadline'))).toBe(true);
  });

  it('carries real packager output to the origin with metas the protocol accepts', async () => {
    const audio = await runMediaTool('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      '2.5',
      '-c:a',
      'aac',
      '-b:a',
      '128k',
      '-f',
      'mp4',
      '-movflags',
      '+cmaf+frag_keyframe',
      '-frag_duration',
      '200000',
      'pipe:1',
    ]);
    expect(audio.code).toBe(0);
    const packager = new CmafPackager({ firstMsn: 4, wallClockAtTimeZero: 1_700_000_000_000 });
    const uploader = new RenditionUploader({ sink: client, publish: PUBLISH });
    for (const event of [...packager.push(audio.stdout), ...packager.flush()]) {
      uploader.enqueue(
        buildUploadItem(event, {
          rendition: 'audio',
          bandwidth: 140_000,
          averageBandwidth: 128_000,
          partTarget: AUDIO_PART_TARGET_SECONDS,
        }),
      );
    }
    expect(await uploader.close(5000)).toBe(true);
    const metas = origin.requests.map((request) => {
      const header = request.headers[INGEST_META_HEADER];
      return IngestMeta.parse(JSON.parse(typeof header === 'string' ? header : 'null'));
    });
    expect(metas[0]).toMatchObject({
      kind: 'init',
      rendition: 'audio',
      codecs: 'mp4a.40.2',
      bandwidth: 140_000,
    });
    expect(metas.filter((meta) => meta.kind === 'segment').map((meta) => meta.msn)).toEqual([4, 5]);
    expect(metas.filter((meta) => meta.kind === 'part').length).toBe(12);
  });
});
