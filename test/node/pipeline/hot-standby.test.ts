// The in-node hot standby on real parts: a partner publish of a 320x180 30 fps source (passthrough
// source, an x264 160p30 rung and an AAC audio rendition), two real ffmpegs on the same input, the
// real packagers, gates and uploaders, and an origin stand-in on loopback that records every
// upload. The active ffmpeg is killed with SIGKILL and the uploaded sequence is checked.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PipelineDeps, StreamPipeline } from '../../../containers/transcoder/src/pipeline.ts';
import { type FlvTag, parseFlvTags } from '../../../containers/transcoder/src/rtmp/flv.ts';
import { StandbyBudget } from '../../../containers/transcoder/src/standby/standby-budget.ts';
import { IngestClient } from '../../../containers/transcoder/src/upload/ingest-client.ts';
import { type AuthorizeResponse, INGEST_META_HEADER, IngestMeta } from '../../../protocol/ingest.ts';
import { makeFlvSource } from '../ffmpeg/media-fixtures.ts';
import { waitFor } from '../rtmp/helpers.ts';
import { type FakeOrigin, startFakeOrigin } from '../upload/fake-origin.ts';
import { feedInRealTime, openPublish, type Publish } from './live-publish.ts';

const GRANT: AuthorizeResponse = {
  channel_id: 'chan-partner',
  stream_id: 'stream-partner',
  publish_id: 'pub-partner',
  tier: 'partner',
  continued: false,
  next_msn: 5,
};

const RENDITIONS = ['source', '160p30', 'audio'] as const;

interface Upload {
  kind: 'init' | 'part' | 'segment';
  rendition: string;
  msn: number;
  part: number;
  independent: boolean;
  receivedAt: number;
}

describe('hot standby', () => {
  let origin: FakeOrigin;
  let tags: FlvTag[];
  const pipelines: StreamPipeline[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const feeders: Array<{ stop(): void }> = [];

  beforeAll(async () => {
    tags = parseFlvTags(await makeFlvSource({ seconds: 30, width: 320, height: 180, videoBitrate: '400k' }));
  });

  beforeEach(async () => {
    origin = await startFakeOrigin();
    logs.length = 0;
  });

  afterEach(async () => {
    for (const feeder of feeders.splice(0)) feeder.stop();
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
        snapshot: () => ({ activeEncodes: encodes, maxEncodes: 8 }),
        add: (count) => {
          encodes += count;
        },
      },
      log: (event) => logs.push(event),
      hotStandbyTiers: ['partner'],
      ...overrides,
    });
    pipelines.push(pipeline);
    publish.handle.session.onClose((reason) => void pipeline.close(reason));
    pipeline.start();
    return pipeline;
  }

  function publishLive(overrides: Partial<PipelineDeps> = {}): StreamPipeline {
    const publish = openPublish(GRANT);
    const pipeline = startPipeline(publish, overrides);
    feeders.push(feedInRealTime(publish, tags));
    return pipeline;
  }

  function uploads(rendition: string): Upload[] {
    const list: Upload[] = [];
    for (const request of origin.requests) {
      const kind = request.path.split('/')[5];
      if (kind !== 'init' && kind !== 'part' && kind !== 'segment') continue;
      const meta = IngestMeta.parse(JSON.parse(String(request.headers[INGEST_META_HEADER])));
      if (meta.rendition !== rendition) continue;
      list.push({
        kind,
        rendition,
        msn: meta.kind === 'init' ? -1 : meta.msn,
        part: meta.kind === 'part' ? meta.part : -1,
        independent: meta.kind === 'part' ? meta.independent : false,
        receivedAt: request.receivedAt,
      });
    }
    return list;
  }

  /** Every part follows the one before it: the next index in its segment, or part 0 of the next msn. */
  function expectUnbrokenParts(rendition: string): Upload[] {
    const parts = uploads(rendition).filter((upload) => upload.kind === 'part');
    for (let index = 1; index < parts.length; index++) {
      const previous = parts[index - 1];
      const part = parts[index];
      const follows =
        (part?.msn === previous?.msn && part?.part === (previous?.part ?? 0) + 1) ||
        (part?.msn === (previous?.msn ?? 0) + 1 && part?.part === 0);
      expect(follows, `${rendition} ${previous?.msn}.${previous?.part} then ${part?.msn}.${part?.part}`).toBe(
        true,
      );
    }
    return parts;
  }

  /** Every segment whose parts were sent is closed by one segment upload, in order. */
  function expectSegmentsClosed(rendition: string): void {
    const list = uploads(rendition);
    const partMsns = [...new Set(list.filter((u) => u.kind === 'part').map((u) => u.msn))];
    const segmentMsns = list.filter((u) => u.kind === 'segment').map((u) => u.msn);
    expect(new Set(segmentMsns).size, `${rendition}: no segment twice`).toBe(segmentMsns.length);
    // The newest segment may still be open.
    expect(segmentMsns, rendition).toEqual(partMsns.slice(0, segmentMsns.length));
    expect(segmentMsns.length, rendition).toBeGreaterThanOrEqual(partMsns.length - 1);
  }

  it('produces bit-identical parts in the standby (same msn/part positions, same hashes) and uploads none of them', async () => {
    const pipeline = publishLive();
    await waitFor(
      () => RENDITIONS.every((name) => (pipeline.stats().standby?.gates[name]?.compared ?? 0) >= 20),
      25_000,
      '20 compared parts per rendition',
    );
    const standby = pipeline.stats().standby;
    expect(standby?.running).toBe(true);
    expect(pipeline.standbyPid).not.toBeNull();
    expect(pipeline.standbyPid).not.toBe(pipeline.ffmpegPid);
    for (const name of RENDITIONS) {
      const gate = standby?.gates[name];
      // x264 is deterministic for the same input and settings; the copy and AAC outputs too.
      expect(gate?.mismatched, name).toBe(0);
      // Held and bounded: the parts of the current and the previous segment, at most 2 x 10 + 2.
      expect(gate?.heldEvents ?? 0, name).toBeLessThanOrEqual(24);
      // The standby's parts stay on the node: each position is uploaded once, one init per rendition.
      expect(uploads(name).filter((u) => u.kind === 'init')).toHaveLength(1);
      expectUnbrokenParts(name);
    }
    expect(logs).toContainEqual(
      expect.objectContaining({ event: 'pipeline.transcode_starting', hot_standby: 'running' }),
    );
  });

  it('continues the same part sequence with no gap, no duplicate and no new init when the active ffmpeg is killed -9', async () => {
    const pipeline = publishLive();
    await waitFor(
      () => RENDITIONS.every((name) => (pipeline.stats().standby?.gates[name]?.compared ?? 0) >= 12),
      25_000,
      'the standby to match the active',
    );
    const killed = pipeline.ffmpegPid;
    const standbyPid = pipeline.standbyPid;
    expect(killed).not.toBeNull();
    const partsBefore = uploads('source').filter((u) => u.kind === 'part').length;
    const killedAt = Date.now();
    process.kill(killed ?? 0, 'SIGKILL');
    await waitFor(() => pipeline.stats().standby?.promotions === 1, 5000, 'the promotion');
    expect(pipeline.ffmpegPid).toBe(standbyPid);
    // Three more seconds of media after the kill, from the promoted standby.
    await waitFor(
      () => uploads('source').filter((u) => u.kind === 'part').length >= partsBefore + 15,
      10_000,
      'parts after the kill',
    );
    expect(pipeline.stats().standby?.seamlessPromotions).toBe(1);
    for (const name of RENDITIONS) {
      const parts = expectUnbrokenParts(name);
      expectSegmentsClosed(name);
      // No new init: the origin lists no EXT-X-DISCONTINUITY.
      expect(
        uploads(name).filter((u) => u.kind === 'init'),
        name,
      ).toHaveLength(1);
      // The first part after the kill reached the origin well inside a second of the previous one.
      const after = parts.findIndex((part) => part.receivedAt >= killedAt);
      expect(after, name).toBeGreaterThan(0);
      const gap = (parts[after]?.receivedAt ?? 0) - (parts[after - 1]?.receivedAt ?? 0);
      expect(gap, `${name}: upload gap across the kill`).toBeLessThan(1000);
    }
    expect(logs).toContainEqual(
      expect.objectContaining({
        event: 'pipeline.standby_promoted',
        reason: 'ffmpeg_exit',
        kind: 'seamless',
      }),
    );
    // The killed lane comes back as the new standby.
    await waitFor(() => pipeline.stats().standby?.running === true, 5000, 'a new standby');
    expect(pipeline.standbyPid).not.toBe(killed);
  });

  it('promotes a restarted standby (not identical: later start, fresh rate control) with one discontinuity at an independent part', async () => {
    const pipeline = publishLive();
    await waitFor(
      () => RENDITIONS.every((name) => (pipeline.stats().standby?.gates[name]?.compared ?? 0) >= 8),
      25_000,
      'the standby to match the active',
    );
    process.kill(pipeline.ffmpegPid ?? 0, 'SIGKILL');
    await waitFor(() => pipeline.stats().standby?.promotions === 1, 5000, 'the first promotion');
    // The new standby starts at the next keyframe and must have produced parts before the second kill.
    await waitFor(
      () => RENDITIONS.every((name) => (pipeline.stats().standby?.gates[name]?.heldEvents ?? 0) >= 12),
      10_000,
      'the restarted standby to hold parts',
    );
    const partsBefore = uploads('source').filter((u) => u.kind === 'part').length;
    process.kill(pipeline.ffmpegPid ?? 0, 'SIGKILL');
    await waitFor(() => pipeline.stats().standby?.promotions === 2, 5000, 'the second promotion');
    await waitFor(
      () => uploads('source').filter((u) => u.kind === 'part').length >= partsBefore + 15,
      10_000,
      'parts after the second kill',
    );
    const promotions = logs.filter((line) => line.event === 'pipeline.standby_promoted');
    expect(pipeline.stats().standby?.seamlessPromotions, JSON.stringify(promotions)).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ event: 'pipeline.standby_promoted', kind: 'discontinuity' }),
    );
    for (const name of RENDITIONS) {
      expectUnbrokenParts(name);
      expectSegmentsClosed(name);
      const list = uploads(name);
      const inits = list.flatMap((upload, index) => (upload.kind === 'init' ? [index] : []));
      // The second init is the discontinuity; what follows it opens a new segment on an independent part.
      expect(inits, name).toHaveLength(2);
      const next = list.slice((inits[1] ?? 0) + 1).find((upload) => upload.kind === 'part');
      expect(next?.part, name).toBe(0);
      expect(next?.independent, name).toBe(true);
    }
  });

  it('swaps in the identical standby when the active ffmpeg hangs (SIGSTOP) past its part deadline, then restarts the hung one', async () => {
    const pipeline = publishLive({ partDeadlineMs: 600 });
    await waitFor(
      () => RENDITIONS.every((name) => (pipeline.stats().standby?.gates[name]?.compared ?? 0) >= 8),
      25_000,
      'the standby to match the active',
    );
    const hung = pipeline.ffmpegPid ?? 0;
    process.kill(hung, 'SIGSTOP');
    try {
      await waitFor(() => pipeline.stats().standby?.promotions === 1, 5000, 'the promotion');
      expect(logs).toContainEqual(
        expect.objectContaining({
          event: 'pipeline.standby_promoted',
          reason: 'part_deadline',
          kind: 'seamless',
        }),
      );
      expect(pipeline.ffmpegPid).not.toBe(hung);
      // The hung process is the standby now; once 5 s behind it is killed and a fresh standby starts.
      await waitFor(
        () => pipeline.standbyPid !== null && pipeline.standbyPid !== hung,
        15_000,
        'the hung standby to be replaced',
      );
      expect(logs).toContainEqual(expect.objectContaining({ event: 'pipeline.standby_restarting' }));
    } finally {
      try {
        process.kill(hung, 'SIGCONT');
      } catch {
        // Already killed by the pipeline.
      }
    }
    for (const name of RENDITIONS) {
      expectUnbrokenParts(name);
      expect(
        uploads(name).filter((u) => u.kind === 'init'),
        name,
      ).toHaveLength(1);
    }
  });

  it('refuses a standby without spare encode slots, and sheds it first when an active stream needs them', async () => {
    let activeEncodes = 0;
    const capacity = {
      snapshot: () => ({ activeEncodes, maxEncodes: 2 }),
      add: (count: number) => {
        activeEncodes += count;
      },
    };
    const budget = new StandbyBudget(capacity.snapshot);
    // 320x180 partner: one x264 rung; its standby takes a second slot of the two.
    const pipeline = publishLive({ capacity, standbyBudget: budget });
    await waitFor(() => pipeline.stats().standby?.running === true, 10_000, 'the standby');
    expect(budget.encodes).toBe(1);
    // Another stream takes the last slot: the standby goes, the active ladder stays whole.
    capacity.add(1);
    expect(budget.shedOverflow()).toBe(1);
    expect(pipeline.stats().standby?.shed).toBe(true);
    await waitFor(() => pipeline.standbyPid === null, 5000, 'the standby ffmpeg to stop');
    expect(pipeline.stats().renditions).toEqual(['source', '160p30', 'audio']);
    // A new partner stream on the full node gets no standby at all.
    const second = publishLive({ capacity, standbyBudget: budget });
    await waitFor(() => second.ffmpegPid !== null, 10_000, 'the second stream');
    expect(second.stats().standby?.shed).toBe(true);
    expect(second.standbyPid).toBeNull();
    expect(logs).toContainEqual(
      expect.objectContaining({ event: 'pipeline.transcode_starting', hot_standby: 'refused_for_load' }),
    );
  });

  it("holds a dual publish's standby unlisted while the origin says wait, then uploads from its segment that holds the end of the listed media, renumbered", async () => {
    let promotion: { next_msn: number; after_pdt: number } | null = null;
    origin.respond((request) =>
      request.path.endsWith('/standby')
        ? {
            status: 200,
            body: JSON.stringify(
              promotion === null ? { state: 'standby' } : { state: 'promoted', ...promotion },
            ),
          }
        : { status: 204 },
    );
    const publish = openPublish({ ...GRANT, continued: true, next_msn: 0, standby: true });
    const pipeline = startPipeline(publish);
    feeders.push(feedInRealTime(publish, tags));
    const claims = () => origin.requests.filter((request) => request.path.endsWith('/standby')).length;
    await waitFor(() => claims() >= 20, 15_000, 'the standby to claim for 4 s');
    expect(pipeline.stats()).toMatchObject({ standby: null, waitingOnStandby: true });
    expect(pipeline.standbyPid).toBeNull();
    for (const name of RENDITIONS) expect(uploads(name), name).toEqual([]);
    expect(origin.requests.some((request) => request.path.endsWith('/thumbnail'))).toBe(false);

    // The other publish's media ended 1.5 s ago (the ingest clock this node stamps its parts with).
    const afterPdt = Date.now() - 1_500;
    promotion = { next_msn: 40, after_pdt: afterPdt };
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).length >= 12),
      10_000,
      'uploads after promotion',
    );
    expect(pipeline.stats().waitingOnStandby).toBe(false);
    for (const name of RENDITIONS) {
      const [init, first] = uploads(name);
      expect(init?.kind, name).toBe('init');
      expect(first, name).toMatchObject({ kind: 'part', msn: 40, part: 0, independent: true });
      const firstPart = origin.requests.find((request) => request.path.includes(`/part/${name}/40/0`));
      const meta = IngestMeta.parse(JSON.parse(String(firstPart?.headers[INGEST_META_HEADER])));
      // It starts at or before the cut (a keyframe), never more than a GOP (2 s) before it.
      expect(meta.kind === 'part' ? meta.pdt : 0, name).toBeLessThanOrEqual(afterPdt + 100);
      expect(meta.kind === 'part' ? meta.pdt : 0, name).toBeGreaterThan(afterPdt - 2_100);
      expectUnbrokenParts(name);
    }
    expect(logs).toContainEqual(expect.objectContaining({ event: 'pipeline.standby_on_air', next_msn: 40 }));
  });

  it("closes a dual publish's standby that the origin no longer knows (409), uploading nothing", async () => {
    origin.respond((request) => (request.path.endsWith('/standby') ? { status: 409 } : { status: 204 }));
    const publish = openPublish({ ...GRANT, continued: true, next_msn: 0, standby: true });
    startPipeline(publish);
    feeders.push(feedInRealTime(publish, tags));
    await waitFor(() => publish.closeReason() !== null, 15_000, 'the standby to be closed');
    expect(publish.closeReason()).toBe('kicked');
    for (const name of RENDITIONS) expect(uploads(name), name).toEqual([]);
  });

  it("hands the air to the stream's standby elsewhere when its ffmpeg dies with no standby of its own, waits as that standby, and comes back with an init after the splice", async () => {
    let promotion: { next_msn: number; after_pdt: number } | null = null;
    origin.respond((request) => {
      if (request.path.endsWith('/yield')) return { status: 200, body: JSON.stringify({ state: 'standby' }) };
      if (request.path.endsWith('/standby'))
        return {
          status: 200,
          body: JSON.stringify(
            promotion === null ? { state: 'standby' } : { state: 'promoted', ...promotion },
          ),
        };
      return { status: 204 };
    });
    const pipeline = publishLive({ hotStandbyTiers: [] });
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).filter((u) => u.kind === 'part').length >= 5),
      20_000,
      'parts on air',
    );
    const pid = pipeline.ffmpegPid;
    if (pid === null) throw new Error('no ffmpeg');
    process.kill(pid, 'SIGKILL');
    await waitFor(() => pipeline.stats().waitingOnStandby, 5_000, 'the yield');
    expect(origin.requests.filter((request) => request.path.endsWith('/yield'))).toHaveLength(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ event: 'pipeline.standby_now', reason: 'yielded' }),
    );
    // Whatever was in flight at the yield has landed; from now on its restarted run is held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentBefore = RENDITIONS.map((name) => uploads(name).length);
    const claims = () => origin.requests.filter((request) => request.path.endsWith('/standby')).length;
    await waitFor(() => claims() >= 15, 15_000, 'the demoted publish to claim for 3 s');
    expect(RENDITIONS.map((name) => uploads(name).length)).toEqual(sentBefore);

    const afterPdt = Date.now() - 1_000;
    promotion = { next_msn: 60, after_pdt: afterPdt };
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).some((u) => u.kind === 'part' && u.msn === 61)),
      15_000,
      'uploads back on air',
    );
    expect(pipeline.stats().waitingOnStandby).toBe(false);
    for (const name of RENDITIONS) {
      const after = uploads(name).slice(sentBefore[RENDITIONS.indexOf(name)]);
      // Its restarted run's init goes first, then the segment that holds the cut, renumbered.
      expect(after[0]?.kind, name).toBe('init');
      expect(after[1], name).toMatchObject({ kind: 'part', msn: 60, part: 0, independent: true });
    }
  });

  it("keeps a relayed source's encoder connection when the origin put its relay's standby on air: it waits as that standby", async () => {
    let onAir = true;
    origin.respond((request) => {
      if (request.path.endsWith('/relay-target'))
        return { status: 200, body: JSON.stringify({ rtmp_url: null }) };
      if (request.path.endsWith('/standby'))
        return { status: 200, body: JSON.stringify({ state: 'standby' }) };
      const kind = request.path.split('/')[5];
      if (!onAir && (kind === 'init' || kind === 'part' || kind === 'segment')) return { status: 409 };
      return { status: 204 };
    });
    const publish = openPublish(GRANT);
    const pipeline = startPipeline(publish, { hotStandbyTiers: [], relayStandbyTiers: [GRANT.tier] });
    feeders.push(feedInRealTime(publish, tags));
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).some((u) => u.kind === 'part')),
      20_000,
      'parts on air',
    );
    // The relay asked where to go (nowhere now: it asks again later).
    expect(origin.requests.some((request) => request.path.endsWith('/relay-target'))).toBe(true);
    // Its uploads stalled, and the relay's standby took the air: the next upload is refused.
    onAir = false;
    await waitFor(() => pipeline.stats().waitingOnStandby, 10_000, 'the demotion');
    expect(logs).toContainEqual(
      expect.objectContaining({ event: 'pipeline.standby_now', reason: 'replaced' }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(publish.closeReason()).toBeNull();
  });

  it('drops the publisher on a refused upload when its source is not relayed', async () => {
    let onAir = true;
    origin.respond((request) => {
      const kind = request.path.split('/')[5];
      if (!onAir && (kind === 'init' || kind === 'part' || kind === 'segment')) return { status: 409 };
      return { status: 204 };
    });
    const publish = openPublish(GRANT);
    startPipeline(publish, { hotStandbyTiers: [] });
    feeders.push(feedInRealTime(publish, tags));
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).some((u) => u.kind === 'part')),
      20_000,
      'parts on air',
    );
    onAir = false;
    await waitFor(() => publish.closeReason() !== null, 10_000, 'the publisher dropped');
    expect(publish.closeReason()).toBe('kicked');
    expect(origin.requests.some((request) => request.path.endsWith('/standby'))).toBe(false);
  });

  it('restarts an ffmpeg that hangs (SIGSTOP) with no standby beside it, once it has made no part for its deadline while the source kept sending', async () => {
    const pipeline = publishLive({ hotStandbyTiers: [], loneLaneDeadlineMs: 1_500 });
    await waitFor(
      () => RENDITIONS.every((name) => uploads(name).filter((u) => u.kind === 'part').length >= 5),
      20_000,
      'parts on air',
    );
    const hung = pipeline.ffmpegPid ?? 0;
    process.kill(hung, 'SIGSTOP');
    try {
      await waitFor(
        () => pipeline.ffmpegPid !== null && pipeline.ffmpegPid !== hung,
        10_000,
        'a new ffmpeg in place of the hung one',
      );
      expect(logs).toContainEqual(expect.objectContaining({ event: 'pipeline.ffmpeg_hung' }));
      const partsBefore = uploads('source').filter((u) => u.kind === 'part').length;
      await waitFor(
        () => uploads('source').filter((u) => u.kind === 'part').length >= partsBefore + 5,
        10_000,
        'parts again',
      );
    } finally {
      try {
        process.kill(hung, 'SIGCONT');
      } catch {
        // Already killed by the pipeline.
      }
    }
  });
});
