// The stream pipeline on real parts: an RTMP publish session fed an ffmpeg-made FLV in real time
// (the socket is the only thing left out), a real supervised ffmpeg, the real packagers and
// uploaders, and an origin stand-in on loopback that records every ingest request.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../../common/trace.ts';
import { type PipelineDeps, StreamPipeline } from '../../../containers/transcoder/src/pipeline.ts';
import { type FlvTag, FlvTagType, parseFlvTags } from '../../../containers/transcoder/src/rtmp/flv.ts';
import { IngestClient } from '../../../containers/transcoder/src/upload/ingest-client.ts';
import {
  type AuthorizeResponse,
  INGEST_META_HEADER,
  IngestHeartbeat,
  IngestMeta,
} from '../../../protocol/ingest.ts';
import { makeFlvSource } from '../ffmpeg/media-fixtures.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, type RecordedRequest, startFakeOrigin } from '../upload/fake-origin.ts';
import { deliverTag, feedInRealTime, openPublish, type Publish } from './live-publish.ts';

const GRANT: AuthorizeResponse = {
  channel_id: 'chan-1',
  stream_id: 'stream-1',
  publish_id: 'pub-1',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

const kindOf = (request: RecordedRequest): string => request.path.split('/')[5] ?? '';

describe('stream pipeline', () => {
  let origin: FakeOrigin;
  let tags: FlvTag[];
  const pipelines: StreamPipeline[] = [];
  const logs: Array<Record<string, unknown>> = [];

  beforeEach(async () => {
    origin = await startFakeOrigin();
    // OBS-like: H.264 with a 2 s GOP, AAC, and an announced bitrate.
    tags ??= parseFlvTags(
      await makeFlvSource({ seconds: 12, width: 320, height: 180, videoBitrate: '500k' }),
    );
    logs.length = 0;
  });

  afterEach(async () => {
    await Promise.all(pipelines.splice(0).map((pipeline) => pipeline.close('server_closed')));
    await origin.close();
  });

  function startPipeline(publish: Publish, overrides: Partial<PipelineDeps> = {}): StreamPipeline {
    const client = new IngestClient({
      baseUrl: origin.baseUrl,
      secret: 'test-secret',
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    });
    let encodes = 0;
    const pipeline = new StreamPipeline(publish.handle.session, {
      client,
      encoder: 'libx264',
      capacity: {
        snapshot: () => ({ activeEncodes: encodes, maxEncodes: 4 }),
        add: (count) => {
          encodes += count;
        },
      },
      log: (event) => logs.push(event),
      heartbeatIntervalMs: 250,
      ...overrides,
    });
    pipelines.push(pipeline);
    publish.handle.session.onClose((reason) => void pipeline.close(reason));
    pipeline.start();
    return pipeline;
  }

  it('passes an OBS-like H.264 source through and advertises the bitrate it announced', async () => {
    const publish = openPublish(GRANT);
    const pipeline = startPipeline(publish);
    const feeder = feedInRealTime(publish, tags);
    await waitFor(() => origin.requests.some((r) => kindOf(r) === 'part'), 15_000, 'the first part');
    const stats = pipeline.stats();
    expect(stats.passthrough).toBe(true);
    expect(stats.renditions).toEqual(['source', 'audio']);
    const init = origin.requests.find((r) => r.path.endsWith('/init/source'));
    const meta = JSON.parse(String(init?.headers['x-ingest-meta'])) as { bandwidth: number };
    // The announced ~500 kbit/s (plus audio, times the passthrough peak factor), not the 6 Mbit/s guess.
    expect(meta.bandwidth).toBeLessThan(1_000_000);
    expect(meta.bandwidth).toBeGreaterThan(500_000);
    // The broadcaster's frames in 200 ms parts: "each Partial Segment MUST be less than or equal to
    // the Part Target Duration", and a segment per 2 s keyframe.
    await waitFor(
      () => origin.requests.some((r) => r.path.includes('/segment/source/1')),
      10_000,
      'two segments',
    );
    feeder.stop();
    const metas = origin.requests
      .filter((r) => r.path.includes('/source'))
      .map((r) => IngestMeta.parse(JSON.parse(String(r.headers[INGEST_META_HEADER]))));
    const partTarget = metas.find((m) => m.kind === 'init')?.part_target ?? 0;
    const parts = metas.filter((m) => m.kind === 'part');
    for (const part of parts) expect(part.duration).toBeLessThanOrEqual(partTarget + 1e-6);
    const segments = metas.filter((m) => m.kind === 'segment');
    for (const segment of segments.slice(0, 2)) expect(segment.duration).toBeCloseTo(2, 2);
  });

  it('starts a continued publish on its first media with the GOP its previous publish measured, where a new one waits for two keyframes', async () => {
    const startedAfter = async (grant: typeof GRANT, firstPart?: () => boolean) => {
      const publish = openPublish(grant);
      const pipeline = startPipeline(publish);
      const feeder = feedInRealTime(publish, tags);
      const fedAt = Date.now();
      try {
        const starting = () => logs.find((entry) => entry.event === 'pipeline.transcode_starting');
        await waitFor(() => starting() !== undefined, 10_000, 'the transcode to start');
        const startedAt = Date.now();
        if (firstPart) await waitFor(firstPart, 10_000, 'the first part');
        return {
          line: starting(),
          afterMs: startedAt - fedAt,
          firstPartAfterStartMs: Date.now() - startedAt,
        };
      } finally {
        feeder.stop();
        // Its last parts must not count as the next publish's.
        await pipeline.close('server_closed');
        logs.length = 0;
      }
    };
    // The source's keyframes are 2 s apart: measuring the GOP takes a second keyframe.
    const fresh = await startedAfter(GRANT);
    expect(fresh.line).toMatchObject({
      keyframe_interval_from: 'measured',
      renditions: ['source:copy', 'audio'],
    });
    expect(fresh.afterMs).toBeGreaterThanOrEqual(1_800);
    const partsBefore = origin.requests.filter((r) => kindOf(r) === 'part').length;
    const continued = await startedAfter(
      { ...GRANT, continued: true, source_keyframe_interval_ms: 2000 },
      () => origin.requests.filter((r) => kindOf(r) === 'part').length > partsBefore,
    );
    expect(continued.line).toMatchObject({
      keyframe_interval_from: 'previous_publish',
      renditions: ['source:copy', 'audio'],
    });
    expect(continued.afterMs).toBeLessThan(1_000);
    // Fed in real time, ffmpeg's first part waits for its input probe (-analyzeduration): 200 ms
    // of media, not a second (a 1 s probe put the first part ~1 s after the start here).
    expect(continued.firstPartAfterStartMs).toBeLessThan(700);
  });

  it('plans a continued publish on the tag that completes its source, and waits only a moment for announced audio that never comes', async () => {
    const continued = { ...GRANT, continued: true, source_keyframe_interval_ms: 2000 };
    const starting = () => logs.find((entry) => entry.event === 'pipeline.transcode_starting');
    // The encoder's reconnect: metadata and both sequence headers, then media. The ladder is
    // planned on the tag that completes the source (video and the announced audio both seen),
    // synchronously, not on a later timer tick.
    const firstMedia = Math.max(
      tags.findIndex((tag) => tag.type === FlvTagType.VIDEO),
      tags.findIndex((tag) => tag.type === FlvTagType.AUDIO),
    );
    const reconnect = openPublish(continued);
    startPipeline(reconnect);
    for (const tag of tags.slice(0, firstMedia)) deliverTag(reconnect, tag);
    expect(starting()).toBeUndefined();
    const tag = tags[firstMedia];
    if (tag === undefined) throw new Error('no media in the fixture');
    deliverTag(reconnect, tag);
    expect(starting()).toMatchObject({
      keyframe_interval_from: 'previous_publish',
      renditions: ['source:copy', 'audio'],
    });
    await pipelines.at(-1)?.close('server_closed');
    logs.length = 0;

    // onMetaData announces AAC, but no audio tag ever comes: the transcode starts without it.
    const silent = openPublish(continued);
    startPipeline(silent);
    const feeder = feedInRealTime(
      silent,
      tags.filter((t) => t.type !== FlvTagType.AUDIO),
    );
    try {
      const fedAt = Date.now();
      await waitFor(() => starting() !== undefined, 5_000, 'the transcode to start');
      expect(Date.now() - fedAt).toBeGreaterThanOrEqual(400);
      expect(starting()).toMatchObject({ renditions: ['source:copy'] });
    } finally {
      feeder.stop();
    }
  });

  it("carries the publish's trace id to the origin on every call as a W3C traceparent, and on every log line", async () => {
    const publish = openPublish(GRANT);
    const traceId = publish.handle.session.traceId;
    const pipeline = startPipeline(publish);
    const feeder = feedInRealTime(publish, tags);
    // A beat after the first part: the GOP is measured by then (the transcode starts on it).
    await waitFor(
      () => {
        const firstPart = origin.requests.findIndex((r) => kindOf(r) === 'part');
        return firstPart >= 0 && origin.requests.slice(firstPart).some((r) => kindOf(r) === 'heartbeat');
      },
      15_000,
      'a part and a heartbeat after it',
    );
    feeder.stop();
    await pipeline.close('publisher_closed');
    const kinds = new Set(origin.requests.map(kindOf));
    for (const kind of ['init', 'part', 'heartbeat', 'end']) expect(kinds).toContain(kind);
    // Each beat carries the source's health for the dashboard's warnings (stream-health.ts).
    // (This harness feeds tags, not RTMP bytes: its byte counter stays 0.)
    const beat = origin.requests.findLast((r) => kindOf(r) === 'heartbeat');
    const health = IngestHeartbeat.parse(JSON.parse(beat?.body.toString() ?? 'null')).health;
    expect(health).toMatchObject({ bytes_in: 0, audio_present: true });
    expect(Math.abs((health?.keyframe_interval_ms ?? 0) - 2000)).toBeLessThan(250);
    const spans = new Set<string>();
    for (const request of origin.requests) {
      const header = request.headers.traceparent;
      expect(header, `${request.method} ${request.path}`).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const parsed = parseTraceparent(typeof header === 'string' ? header : null);
      expect(parsed?.traceId).toBe(traceId);
      spans.add(parsed?.parentId ?? '');
    }
    // A span per request: the origin's lines for one upload are told apart from the next one's.
    expect(spans.size).toBe(origin.requests.length);
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) expect(line).toMatchObject({ trace_id: traceId, stream_id: 'stream-1' });
    expect(logs.map((line) => line.event)).toEqual(
      expect.arrayContaining(['pipeline.transcode_starting', 'pipeline.closed']),
    );
  });

  it('heartbeats only while media flows, so a silent publisher lets the origin time it out', async () => {
    const publish = openPublish(GRANT);
    startPipeline(publish);
    const feeder = feedInRealTime(publish, tags);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const beatsWhileLive = origin.requests.filter((r) => kindOf(r) === 'heartbeat').length;
    expect(beatsWhileLive).toBeGreaterThanOrEqual(4);
    // The encoder's host vanishes: no more media, but the session is not closed (no FIN arrives).
    feeder.stop();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const beatsAtSilence = origin.requests.filter((r) => kindOf(r) === 'heartbeat').length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(origin.requests.filter((r) => kindOf(r) === 'heartbeat').length).toBe(beatsAtSilence);
    expect(publish.closeReason()).toBeNull();
  });

  it('holds no FLV across an ffmpeg restart and feeds the new run from a keyframe', async () => {
    const publish = openPublish(GRANT);
    const pipeline = startPipeline(publish);
    const feeder = feedInRealTime(publish, tags);
    try {
      await waitFor(() => origin.requests.some((r) => kindOf(r) === 'part'), 15_000, 'the first part');
      const pid = pipeline.ffmpegPid;
      expect(pid).not.toBeNull();
      process.kill(pid ?? 0, 'SIGKILL');
      await waitFor(() => pipeline.stats().ffmpegRuns === 2, 5000, 'the restart');
      expect(pipeline.stats().heldInputBytes).toBe(0);
      // The new run produces media again: a second init for the source, then its parts.
      await waitFor(
        () => origin.requests.filter((r) => r.path.endsWith('/init/source')).length === 2,
        8000,
        'the restarted init',
      );
      const restartedInit = origin.requests.findLastIndex((r) => r.path.endsWith('/init/source'));
      await waitFor(
        () => origin.requests.slice(restartedInit).some((r) => r.path.includes('/part/source/')),
        8000,
        'a part from the new run',
      );
      expect(pipeline.stats().heldInputBytes).toBe(0);
      expect(publish.closeReason()).toBeNull();
    } finally {
      feeder.stop();
    }
  });

  it('drops the publisher as publisher_lost when the origin stays down past the upload backlog', async () => {
    origin.respond((request) => ({ status: ['heartbeat', 'end'].includes(kindOf(request)) ? 204 : 503 }));
    const publish = openPublish(GRANT);
    startPipeline(publish, { maxUploadBacklogSeconds: 1 });
    const feeder = feedInRealTime(publish, tags);
    try {
      await waitFor(() => publish.closeReason() !== null, 15_000, 'the publisher to be dropped');
      expect(publish.closeReason()).toBe('publisher_lost');
      await waitFor(() => origin.requests.some((r) => kindOf(r) === 'end'), 8000, 'the end call');
      const end = origin.requests.find((r) => kindOf(r) === 'end');
      expect(JSON.parse(end?.body.toString() ?? 'null')).toEqual({ reason: 'publisher_lost' });
    } finally {
      feeder.stop();
    }
  });

  it('does not tell the origin a kicked publish ended', async () => {
    origin.respond((request) => ({ status: kindOf(request) === 'heartbeat' ? 409 : 204 }));
    const publish = openPublish(GRANT);
    const pipeline = startPipeline(publish);
    const feeder = feedInRealTime(publish, tags);
    try {
      await waitFor(() => publish.closeReason() !== null, 10_000, 'the cut-off');
      expect(publish.closeReason()).toBe('kicked');
      await pipeline.close('kicked');
      expect(origin.requests.filter((r) => kindOf(r) === 'end')).toEqual([]);
      expect(logs).toContainEqual(expect.objectContaining({ event: 'pipeline.closed', reason: 'kicked' }));
    } finally {
      feeder.stop();
    }
  });
});
