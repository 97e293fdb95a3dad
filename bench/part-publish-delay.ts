// Part publish delay: from ffmpeg writing a part to the part being listed in the playlist.
//   1. The transcoder's own figure (GET /stats): per rendition, from the packager emitting a part
//      (ffmpeg has written its last byte to the pipe) to the origin's PUT response. The origin
//      answers that PUT only after R2 holds the bytes and the LiveStream DO has listed the part
//      (workers/origin/ingest.ts awaits commitPart, which releases blocked requests).
//   2. An independent cross-check from outside: a client keeps a blocking reload open for the
//      next part (`_HLS_msn`/`_HLS_part` of the preload hint), as an LL-HLS player does, and
//      compares when the playlist naming the part arrives with when the part's last sample left
//      the publisher (its PROGRAM-DATE-TIME + DURATION, moved onto the publisher's clock). That
//      span also holds RTMP, ffmpeg's wait for the fragment's next frame, and the packager, so it
//      bounds the first figure from above.
//   node bench/part-publish-delay.ts
import { z } from 'zod';
import { type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { startCpuMonitor } from './lib/cpu-monitor.ts';
import { defineLiveBenchmark, type LiveSession } from './lib/live-session.ts';
import { buildBlockingQuery, findAwaitedPart, parseMediaPlaylist } from './lib/playlist.ts';
import { formatNumber, roundSummary, type Summary, summarize } from './lib/stats.ts';

const SOURCE = { size: '640x360', fps: 30, videoBitrate: '800k' };
const GOAL_P50_MS = 100;
/** A blocking reload is answered within 3 × TARGETDURATION or gets 503; never wait longer. */
const REQUEST_TIMEOUT_MS = 7_000;
const RENDITIONS = ['source', 'audio'] as const;
/**
 * The transcoder holds the first ~2 s of media while it measures the source's GOP, then replays
 * it at once: parts of that backlog are listed late by design. The blocking-reload figures start
 * after it; /stats cannot be split and keeps it.
 */
const WARM_UP_MS = 6_000;

const LatencyFigure = z.object({
  count: z.number(),
  mean: z.number(),
  p50: z.number(),
  p95: z.number(),
  max: z.number(),
});

/** The slice of the transcoder's GET /stats this benchmark reads. */
const TranscoderStats = z.object({
  streams: z.array(
    z.object({
      passthrough: z.boolean(),
      uploads: z.record(
        z.string(),
        z.object({
          uploaded: z.number(),
          droppedParts: z.number(),
          failed: z.number(),
          latencyMs: LatencyFigure,
        }),
      ),
    }),
  ),
});
type TranscoderStats = z.infer<typeof TranscoderStats>;

interface BlockingObservation {
  /** From the blocking request to the playlist that lists the part. */
  waitMs: number[];
  /** From the part's last sample leaving the publisher to that playlist arriving. */
  ingestToListedMs: number[];
  /** Requests that came back without the part (a 503, or a shed part). */
  misses: number;
  /** [seconds since the stream went live, publisher -> listed ms, part index in its segment]. */
  series: Array<[number, number, number]>;
}

async function fetchWithTimeout(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, text: await res.text() };
}

async function observeBlockingReloads(
  session: LiveSession,
  rendition: string,
  measureFrom: number,
  deadline: number,
  pdtOffsetMs: number | null,
): Promise<BlockingObservation> {
  const url = session.mediaPlaylistUrl(rendition);
  const observation: BlockingObservation = { waitMs: [], ingestToListedMs: [], misses: 0, series: [] };
  let next = parseMediaPlaylist((await fetchWithTimeout(url)).text).preloadHint;
  while (Date.now() < deadline && next !== null) {
    const requestedAt = performance.now();
    const wanted = next;
    let text: string;
    try {
      const res = await fetchWithTimeout(`${url}?${buildBlockingQuery(wanted)}`);
      if (res.status !== 200) {
        observation.misses += 1;
        next = parseMediaPlaylist((await fetchWithTimeout(url)).text).preloadHint;
        continue;
      }
      text = res.text;
    } catch {
      observation.misses += 1;
      continue;
    }
    const arrivedAt = Date.now();
    const waited = performance.now() - requestedAt;
    const playlist = parseMediaPlaylist(text);
    const part = findAwaitedPart(playlist, wanted);
    if (part === undefined) {
      observation.misses += 1;
    } else {
      const delay =
        part.pdt === null || pdtOffsetMs === null
          ? null
          : arrivedAt - (part.pdt + part.duration * 1000 - pdtOffsetMs);
      if (delay !== null) {
        observation.series.push([
          Math.round((arrivedAt - session.liveAt) / 100) / 10,
          Math.round(delay),
          part.part,
        ]);
      }
      if (arrivedAt >= measureFrom) {
        observation.waitMs.push(waited);
        if (delay !== null) observation.ingestToListedMs.push(delay);
      }
    }
    next = playlist.preloadHint;
  }
  return observation;
}

async function readTranscoderStats(session: LiveSession): Promise<TranscoderStats> {
  const res = await fetch(`${session.platform.transcoderUrl}/stats`, { signal: AbortSignal.timeout(5_000) });
  return TranscoderStats.parse(await res.json());
}

async function measure(session: LiveSession): Promise<BenchOutcome> {
  const windowMs = pickWindowMs(30);
  const first = parseMediaPlaylist((await fetchWithTimeout(session.mediaPlaylistUrl('source'))).text);
  const zero = session.publisher.mediaZeroAt();
  const pdtOffsetMs = first.firstPdt === null || zero === null ? null : first.firstPdt - zero;
  const measureFrom = Date.now() + WARM_UP_MS;
  const deadline = measureFrom + windowMs;
  const cpu = startCpuMonitor();
  const observations = await Promise.all(
    RENDITIONS.map((rendition) =>
      observeBlockingReloads(session, rendition, measureFrom, deadline, pdtOffsetMs),
    ),
  );
  const cpuSamples = cpu.stop();
  const stats = await readTranscoderStats(session);
  const stream = stats.streams[0];

  const rows: string[][] = [];
  const result: Record<string, unknown> = {
    goal: { p50_ms: GOAL_P50_MS },
    window_seconds: windowMs / 1000,
    pdt_offset_ms: pdtOffsetMs === null ? null : Math.round(pdtOffsetMs),
    passthrough: stream?.passthrough ?? null,
    machine_cpu_busy_percent: roundSummary(summarize(cpuSamples.map(([, busy]) => busy)), 0),
    machine_cpu_series: cpuSamples,
  };
  RENDITIONS.forEach((rendition, index) => {
    const upload = stream?.uploads[rendition];
    const observed = observations[index];
    const waits: Summary = summarize(observed?.waitMs ?? []);
    const ingest: Summary = summarize(observed?.ingestToListedMs ?? []);
    rows.push(
      [
        `${rendition}: packager emit -> listed (transcoder /stats)`,
        formatNumber(upload?.latencyMs.p50, 1),
        formatNumber(upload?.latencyMs.p95, 1),
        formatNumber(upload?.latencyMs.max, 1),
        String(upload?.latencyMs.count ?? 0),
        `p50<=${GOAL_P50_MS}`,
      ],
      [
        `${rendition}: publisher -> listed (blocking reload)`,
        formatNumber(ingest.p50, 1),
        formatNumber(ingest.p95, 1),
        formatNumber(ingest.max, 1),
        String(ingest.count),
        'upper bound',
      ],
      [
        `${rendition}: blocking reload held (ms)`,
        formatNumber(waits.p50, 1),
        formatNumber(waits.p95, 1),
        formatNumber(waits.max, 1),
        String(waits.count),
        '',
      ],
    );
    result[rendition] = {
      transcoder_upload_latency_ms: upload?.latencyMs ?? null,
      uploads: upload
        ? { uploaded: upload.uploaded, dropped_parts: upload.droppedParts, failed: upload.failed }
        : null,
      publisher_to_listed_ms: roundSummary(ingest),
      blocking_reload_held_ms: roundSummary(waits),
      blocking_misses: observed?.misses ?? 0,
      publisher_to_listed_series: observed?.series ?? [],
    };
  });
  const sourceUpload = stream?.uploads.source?.latencyMs;
  return {
    table: {
      title: 'part publish delay (ffmpeg wrote the part -> listed in the playlist), ms',
      source: `source ${SOURCE.size} ${SOURCE.fps} fps, x264 veryfast zerolatency, 2 s GOP, -re; tier none (source passthrough + audio); ${windowMs / 1000} s of blocking reloads, /stats read at the end`,
      headers: ['figure', 'p50', 'p95', 'max', 'count', 'goal'],
      rows,
      notes: [
        `goal p50 <= ${GOAL_P50_MS} ms (source, /stats): ${sourceUpload === undefined ? 'not measured' : sourceUpload.p50 <= GOAL_P50_MS ? 'met' : 'missed'}`,
        '/stats counts every upload since the publish began (init, parts and whole segments, the start-up burst included)',
        `whole machine CPU busy while measuring: p50 ${formatNumber(summarize(cpuSamples.map(([, b]) => b)).p50)} %, max ${formatNumber(summarize(cpuSamples.map(([, b]) => b)).max)} %`,
        `publisher clock: PDT stamped ${formatNumber(pdtOffsetMs)} ms after the media left the publisher, subtracted above`,
      ],
    },
    result,
  };
}

export const partPublishDelayBench = defineLiveBenchmark('part-publish-delay', SOURCE, measure);

if (import.meta.main) await runBenchmark(partPublishDelayBench);
