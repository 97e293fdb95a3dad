// Ingest-to-screen latency: a 640x360 30 fps test pattern published over RTMP, played by hls.js
// in Chromium in low-latency mode; every 250 ms for 60 s after playback settles we read
// Date.now() − hls.playingDate, hls.latency, the buffer ahead and stalls.
//   node bench/live-latency.ts
import { waitFor } from '../scripts/lib/platform.ts';
import {
  type LaunchedBrowser,
  launchBrowser,
  openPlayer,
  playerState,
  samplePlayer,
} from '../test/e2e/lib/player.ts';
import { type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { startCpuMonitor } from './lib/cpu-monitor.ts';
import { defineLiveBenchmark, findTranscoderLogTime, type LiveSession, sleep } from './lib/live-session.ts';
import { parseMediaPlaylist } from './lib/playlist.ts';
import { formatNumber, roundSummary, type Summary, summarize } from './lib/stats.ts';

const SOURCE = { size: '640x360', fps: 30, videoBitrate: '800k' };
const SAMPLE_INTERVAL_MS = 250;
/** hls.js seeks to the live edge and adjusts its rate for the first seconds: not steady state. */
const SETTLE_MS = 5_000;
const FIRST_FRAME_TIMEOUT_MS = 30_000;
/** "currentTime not advancing for > 500 ms" is a stall. */
const STALL_MS = 500;
const GOAL_P50_MS = 1500;
const GOAL_P95_MS = 2000;
/**
 * The comparison run: hls.js's own default, 1x (it never plays faster to catch up). The shipped
 * players (web app, tests) allow 1.5x.
 */
const NO_CATCH_UP_RATE = 1;

interface PlaybackRun {
  label: string;
  windowMs: number;
  summaries: Record<string, Summary>;
  /** Percent of all cores busy, sampled once a second while measuring. */
  cpuBusy: Summary;
  stalls: number[];
  firstFrameFromOpenMs: number | null;
  firstFrameFromPublishMs: number | null;
  fatalErrors: string[];
  errors: string[];
}

/**
 * Plays the stream in a fresh page and samples it. `catchUpRate` sets hls.js's
 * maxLiveSyncPlaybackRate (read on every timeupdate, so setting it after creation takes effect);
 * null keeps the configuration the web app and the end-to-end player ship with.
 */
async function measurePlayback(
  session: LiveSession,
  browser: LaunchedBrowser,
  label: string,
  windowMs: number,
  catchUpRate: number | null,
  pdtOffsetMs: () => number | null,
): Promise<PlaybackRun> {
  const context = await browser.newContext();
  try {
    const openedAt = Date.now();
    // hls.js's default is hls.js alone: without the web app's thin-buffer cushion either.
    const page = await openPlayer(context, session.platform.baseUrl, session.manifestUrl, {
      lowLatency: true,
      cushion: catchUpRate === null,
    });
    if (catchUpRate !== null) {
      await page.evaluate((rate) => {
        (
          window as unknown as { hls: { config: { maxLiveSyncPlaybackRate: number } } }
        ).hls.config.maxLiveSyncPlaybackRate = rate;
      }, catchUpRate);
    }
    await waitFor(
      'the first frame',
      async () => ((await samplePlayer(page)).currentTime > 0 ? true : undefined),
      FIRST_FRAME_TIMEOUT_MS,
      50,
    );
    const firstPlayingAt = (await playerState(page)).firstPlayingAt;
    await sleep(SETTLE_MS);
    const offset = pdtOffsetMs();
    const series: Record<string, number[]> = {
      pdt_latency_ms: [],
      ingest_latency_ms: [],
      hls_latency_s: [],
      hls_target_latency_s: [],
      buffer_ahead_s: [],
      playback_rate: [],
    };
    const push = (key: string, value: number | null) => {
      if (value !== null) series[key]?.push(value);
    };
    const stalls: number[] = [];
    const cpu = startCpuMonitor();
    const started = Date.now();
    let lastTime = -1;
    let lastAdvanceAt = started;
    while (Date.now() - started < windowMs) {
      const tick = Date.now();
      const sample = await samplePlayer(page);
      push('pdt_latency_ms', sample.pdtLatencyMs);
      push(
        'ingest_latency_ms',
        sample.pdtLatencyMs === null || offset === null ? null : sample.pdtLatencyMs + offset,
      );
      push('hls_latency_s', sample.latency);
      push('hls_target_latency_s', sample.targetLatency);
      push('buffer_ahead_s', sample.bufferAhead);
      push('playback_rate', sample.playbackRate);
      if (sample.currentTime > lastTime) {
        if (lastTime >= 0 && sample.at - lastAdvanceAt > STALL_MS) stalls.push(sample.at - lastAdvanceAt);
        lastTime = sample.currentTime;
        lastAdvanceAt = sample.at;
      }
      await sleep(Math.max(0, SAMPLE_INTERVAL_MS - (Date.now() - tick)));
    }
    if (Date.now() - lastAdvanceAt > STALL_MS) stalls.push(Date.now() - lastAdvanceAt);
    const cpuBusy = cpu.stop().map(([, busy]) => busy);
    const state = await playerState(page);
    return {
      label,
      windowMs,
      cpuBusy: summarize(cpuBusy),
      summaries: Object.fromEntries(Object.entries(series).map(([key, values]) => [key, summarize(values)])),
      stalls,
      firstFrameFromOpenMs: firstPlayingAt === null ? null : firstPlayingAt - openedAt,
      firstFrameFromPublishMs: firstPlayingAt === null ? null : firstPlayingAt - session.publishedAt,
      fatalErrors: state.fatalErrors,
      errors: state.errors,
    };
  } finally {
    await context.close();
  }
}

function meetsGoal(summary: Summary | undefined): string {
  if (summary?.p50 == null || summary.p95 == null) return 'not measured';
  return summary.p50 <= GOAL_P50_MS && summary.p95 <= GOAL_P95_MS ? 'met' : 'missed';
}

function describeRun(run: PlaybackRun): string[][] {
  const row = (label: string, key: string, decimals: number, goal = '') => {
    const summary = run.summaries[key] ?? summarize([]);
    return [
      `${run.label}: ${label}`,
      formatNumber(summary.p50, decimals),
      formatNumber(summary.p95, decimals),
      formatNumber(summary.max, decimals),
      String(summary.count),
      goal,
    ];
  };
  return [
    row('Date.now() - hls.playingDate (ms)', 'pdt_latency_ms', 0, 'p50<=1500 p95<=2000'),
    row('same, from the publisher clock (ms)', 'ingest_latency_ms', 0, 'p50<=1500 p95<=2000'),
    row('hls.latency (s)', 'hls_latency_s', 2),
    row('hls.targetLatency (s)', 'hls_target_latency_s', 2),
    row('buffer ahead (s)', 'buffer_ahead_s', 2),
    row('playback rate', 'playback_rate', 2),
  ];
}

function describeRunNotes(run: PlaybackRun): string[] {
  const stallTotal = run.stalls.reduce((sum, ms) => sum + ms, 0);
  return [
    `${run.label}: goal by PDT ${meetsGoal(run.summaries.pdt_latency_ms)}, by the publisher clock ${meetsGoal(run.summaries.ingest_latency_ms)}; ` +
      `stalls > ${STALL_MS} ms: ${run.stalls.length} (${stallTotal} ms); first frame ${formatNumber(run.firstFrameFromOpenMs)} ms after player open ` +
      `(${formatNumber(run.firstFrameFromPublishMs)} ms after publish); errors fatal ${run.fatalErrors.length}, non-fatal ${run.errors.length}; machine CPU busy p50 ${formatNumber(run.cpuBusy.p50)} %`,
  ];
}

function describeRunResult(run: PlaybackRun): Record<string, unknown> {
  return {
    window_seconds: run.windowMs / 1000,
    ...Object.fromEntries(
      Object.entries(run.summaries).map(([key, summary]) => [
        key,
        roundSummary(summary, key.endsWith('_ms') ? 0 : 3),
      ]),
    ),
    stalls: {
      count: run.stalls.length,
      total_ms: run.stalls.reduce((sum, ms) => sum + ms, 0),
      durations_ms: run.stalls,
    },
    machine_cpu_busy_percent: roundSummary(run.cpuBusy, 0),
    first_frame_ms: { from_player_open: run.firstFrameFromOpenMs, from_publish: run.firstFrameFromPublishMs },
    player_errors: { fatal: run.fatalErrors, non_fatal: run.errors.slice(0, 20) },
  };
}

async function measure(session: LiveSession): Promise<BenchOutcome> {
  const playlist = parseMediaPlaylist(await (await fetch(session.mediaPlaylistUrl('source'))).text());
  // PDT(t) = firstPdt + t, while media time t left the publisher at mediaZeroAt + t: the difference
  // is how much later than the real ingest the platform stamps every frame.
  const pdtOffsetMs = () => {
    const zero = session.publisher.mediaZeroAt();
    return playlist.firstPdt === null || zero === null ? null : playlist.firstPdt - zero;
  };
  const browser = await launchBrowser();
  const runs: PlaybackRun[] = [];
  try {
    runs.push(
      await measurePlayback(
        session,
        browser,
        'as shipped (catch-up 1.5x, cushion 0.9x)',
        pickWindowMs(60),
        null,
        pdtOffsetMs,
      ),
    );
    runs.push(
      await measurePlayback(
        session,
        browser,
        'hls.js default (no catch-up)',
        pickWindowMs(30),
        NO_CATCH_UP_RATE,
        pdtOffsetMs,
      ),
    );
  } finally {
    await browser.close();
  }
  const probeStarted = findTranscoderLogTime(session.platform, 'rtmp.publish_authorization');
  const transcodeStarted = findTranscoderLogTime(session.platform, 'pipeline.transcode_starting');
  const probeMs = probeStarted !== null && transcodeStarted !== null ? transcodeStarted - probeStarted : null;
  const offset = pdtOffsetMs();
  return {
    table: {
      title: 'ingest-to-screen latency (hls.js low-latency mode in Chromium)',
      source: `source ${SOURCE.size} ${SOURCE.fps} fps, x264 veryfast zerolatency, 2 s GOP, ${SOURCE.videoBitrate}, -re; tier none (source passthrough); sample every ${SAMPLE_INTERVAL_MS} ms after ${SETTLE_MS / 1000} s settling`,
      headers: ['figure', 'p50', 'p95', 'max', 'samples', 'goal'],
      rows: runs.flatMap(describeRun),
      notes: [
        ...runs.flatMap(describeRunNotes),
        `PDT is stamped ${formatNumber(offset)} ms after the media left the publisher (the transcoder's source probe took ${formatNumber(probeMs)} ms)`,
        `live in the API ${session.liveAt - session.publishedAt} ms after publish; playlist PART-TARGET ${playlist.partTarget} s, PART-HOLD-BACK ${playlist.partHoldBack} s`,
      ],
    },
    result: {
      goal: { p50_ms: GOAL_P50_MS, p95_ms: GOAL_P95_MS },
      as_shipped: runs[0] ? describeRunResult(runs[0]) : null,
      no_catch_up: runs[1]
        ? { max_live_sync_playback_rate: NO_CATCH_UP_RATE, ...describeRunResult(runs[1]) }
        : null,
      pdt_offset_ms: offset === null ? null : Math.round(offset),
      transcoder_probe_ms: probeMs,
      live_in_api_after_publish_ms: session.liveAt - session.publishedAt,
      playlist: { part_target_s: playlist.partTarget, part_hold_back_s: playlist.partHoldBack },
    },
  };
}

export const liveLatencyBench = defineLiveBenchmark('live-latency', SOURCE, measure);

if (import.meta.main) await runBenchmark(liveLatencyBench);
