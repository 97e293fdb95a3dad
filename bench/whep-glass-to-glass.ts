// Glass-to-glass latency of real-time (WHEP) playback beside LL-HLS, for the same stream in one run
// (docs/webrtc.md, docs/benchmarks.md). Measured on the pixels, with one clock:
// - a publisher page in Chromium draws Date.now() (its low 32 bits) into a 640x360 canvas as black
//   and white 40 px blocks — two rows of 16 bits and the same two rows inverted as a check — over
//   a moving bar, every 10 ms; the canvas is captured at 30 fps (captureStream) with a tone, and
//   published over WHIP to the transcoder (H.264, as the go-live page does);
// - a viewer page plays the stream over WHEP (receive-only RTCPeerConnection, video.srcObject) and
//   another plays its LL-HLS playlist in hls.js (low-latency mode, as the web app's player); on every
//   frame the compositor presents (requestVideoFrameCallback), each draws the video into a canvas,
//   reads the blocks back, and records Date.now() − drawn. A frame whose check rows do not match
//   (a blurred or half-decoded frame) is counted and skipped, never guessed.
// Publisher, transcoder, Worker and both viewers run on this machine, so it is the same clock; the
// figure includes the canvas capture (up to one 33 ms frame), the browser's encode, the network
// (loopback), the node, the jitter buffer / HLS buffer, decode and presentation.
//   node bench/whep-glass-to-glass.ts
import type { Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { findFreePort, waitFor } from '../scripts/lib/platform.ts';
import { type Platform, startPlatform } from '../test/e2e/harness.ts';
import { ApiClient, uniqueName } from '../test/e2e/lib/api.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, openPlayer, playerState } from '../test/e2e/lib/player.ts';
import { type Benchmark, type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, type Summary, summarize } from './lib/stats.ts';

const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;
const VIDEO_BITRATE = 1_200_000;
/** After both viewers show their first decodable frame: hls.js seeks and adjusts its rate. */
const SETTLE_MS = 5_000;
const GOAL_WHEP_P50_MS = 500;

interface Readings {
  latencies: number[];
  undecodable: number;
  frames: number;
  width: number;
  height: number;
}

/** The page-side reader, as source: installed into both viewer pages. */
function installReader(videoSelector: string): void {
  const video = document.querySelector<HTMLVideoElement>(videoSelector);
  if (video === null) throw new Error(`no ${videoSelector}`);
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 360;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('no 2d context');
  const readings = { latencies: [] as number[], undecodable: 0, frames: 0, width: 0, height: 0, on: false };
  (window as unknown as { glassReadings: typeof readings }).glassReadings = readings;
  const readRow = (pixels: Uint8ClampedArray, row: number): number => {
    let value = 0;
    for (let bit = 0; bit < 16; bit += 1) {
      // The middle 10x10 of the block, averaged: away from the edges a codec smears.
      let sum = 0;
      for (let dy = 15; dy < 25; dy += 1) {
        for (let dx = 15; dx < 25; dx += 1) {
          const offset = ((row * 40 + dy) * 640 + bit * 40 + dx) * 4;
          sum += (pixels[offset] ?? 0) + (pixels[offset + 1] ?? 0) + (pixels[offset + 2] ?? 0);
        }
      }
      if (sum / 300 > 128) value |= 1 << bit;
    }
    return value;
  };
  const onFrame = () => {
    const now = Date.now();
    if (readings.on) {
      readings.frames += 1;
      readings.width = video.videoWidth;
      readings.height = video.videoHeight;
      context.drawImage(video, 0, 0, 640, 360);
      const pixels = context.getImageData(0, 0, 640, 160).data;
      const low = readRow(pixels, 0);
      const high = readRow(pixels, 1);
      if ((readRow(pixels, 2) ^ 0xffff) !== low || (readRow(pixels, 3) ^ 0xffff) !== high) {
        readings.undecodable += 1;
      } else {
        const drawn = high * 65536 + low;
        const latency = (now % 2 ** 32) - drawn;
        if (latency >= 0 && latency < 60_000) readings.latencies.push(latency);
        else readings.undecodable += 1;
      }
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

async function publishClockCanvas(page: Page, whipUrl: string, streamKey: string): Promise<void> {
  await page.setContent('<!doctype html><canvas id="c" width="640" height="360"></canvas>');
  await page.evaluate(
    async ({ whipUrl, streamKey, fps, bitrate }) => {
      const canvas = document.getElementById('c') as HTMLCanvasElement;
      const context = canvas.getContext('2d');
      if (context === null) throw new Error('no 2d context');
      const draw = () => {
        const now = Date.now() % 2 ** 32;
        const rows = [
          now & 0xffff,
          Math.floor(now / 65536),
          ~now & 0xffff,
          ~Math.floor(now / 65536) & 0xffff,
        ];
        context.fillStyle = '#404040';
        context.fillRect(0, 160, 640, 200);
        context.fillStyle = '#e0a000';
        context.fillRect(((now / 4) % 680) - 40, 200, 40, 120);
        rows.forEach((value, row) => {
          for (let bit = 0; bit < 16; bit += 1) {
            context.fillStyle = value & (1 << bit) ? '#ffffff' : '#000000';
            context.fillRect(bit * 40, row * 40, 40, 40);
          }
        });
      };
      draw();
      setInterval(draw, 10);
      const stream = canvas.captureStream(fps);
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      gain.gain.value = 0.05;
      const destination = audio.createMediaStreamDestination();
      tone.connect(gain).connect(destination);
      tone.start();
      for (const track of destination.stream.getAudioTracks()) stream.addTrack(track);

      const pc = new RTCPeerConnection();
      (window as unknown as { publisherPc: RTCPeerConnection }).publisherPc = pc;
      for (const track of stream.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        if (track.kind === 'video') {
          const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
          const h264 = codecs.filter((codec) => codec.mimeType.toLowerCase() === 'video/h264');
          transceiver.setCodecPreferences([...h264, ...codecs.filter((c) => !h264.includes(c))]);
          const parameters = transceiver.sender.getParameters();
          parameters.encodings = [{ maxBitrate: bitrate }];
          // Text-like content: keep the resolution, drop frames first.
          parameters.degradationPreference = 'maintain-resolution';
          await transceiver.sender.setParameters(parameters).catch(() => undefined);
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const response = await fetch(whipUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${streamKey}` },
        body: pc.localDescription?.sdp ?? '',
      });
      if (response.status !== 201)
        throw new Error(`WHIP answered ${response.status}: ${await response.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    },
    { whipUrl, streamKey, fps: FPS, bitrate: VIDEO_BITRATE },
  );
}

/**
 * A WHEP viewer page; `audio: false` offers video only, so the browser has no audio to line the
 * video up with (lip sync): the difference between the two is what A/V sync costs.
 */
async function watchOverWhep(page: Page, whepUrl: string, audio: boolean): Promise<void> {
  await page.setContent(
    '<!doctype html><video id="w" muted playsinline autoplay style="width:320px"></video>',
  );
  await page.evaluate(
    async ({ url, audio }) => {
      const video = document.getElementById('w') as HTMLVideoElement;
      const pc = new RTCPeerConnection();
      (window as unknown as { viewerPc: RTCPeerConnection }).viewerPc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.addEventListener('track', (event) => {
        stream.addTrack(event.track);
        video.srcObject = stream;
        void video.play().catch(() => undefined);
      });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription?.sdp ?? '',
      });
      if (response.status !== 201)
        throw new Error(`WHEP answered ${response.status}: ${await response.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    },
    { url: whepUrl, audio },
  );
}

function setReading(page: Page, on: boolean): Promise<void> {
  return page.evaluate((value) => {
    (window as unknown as { glassReadings: { on: boolean } }).glassReadings.on = value;
  }, on);
}

function collect(page: Page): Promise<Readings> {
  return page.evaluate(() => {
    const readings = (window as unknown as { glassReadings: Readings & { on: boolean } }).glassReadings;
    return {
      latencies: readings.latencies,
      undecodable: readings.undecodable,
      frames: readings.frames,
      width: readings.width,
      height: readings.height,
    };
  });
}

/** Where the WHEP viewer's time goes by WebRTC's own account: jitter buffer and decode, per frame. */
function readReceiverStats(page: Page): Promise<{ jitterBufferMs: number | null; decodeMs: number | null }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { viewerPc: RTCPeerConnection }).viewerPc;
    let jitterBufferMs: number | null = null;
    let decodeMs: number | null = null;
    (await pc.getStats()).forEach((entry) => {
      if (entry.type !== 'inbound-rtp' || entry.kind !== 'video') return;
      if (entry.jitterBufferEmittedCount > 0)
        jitterBufferMs = Math.round((entry.jitterBufferDelay / entry.jitterBufferEmittedCount) * 1000);
      if (entry.framesDecoded > 0)
        decodeMs = Math.round((entry.totalDecodeTime / entry.framesDecoded) * 1000);
    });
    return { jitterBufferMs, decodeMs };
  });
}

/** Median of the first and of the last third of the samples: is a player still catching up? */
function readTrend(latencies: readonly number[]): {
  first_third_p50: number | null;
  last_third_p50: number | null;
} {
  const third = Math.floor(latencies.length / 3);
  return {
    first_third_p50: summarize(latencies.slice(0, third)).p50,
    last_third_p50: summarize(latencies.slice(latencies.length - third)).p50,
  };
}

function row(name: string, readings: Readings, summary: Summary, windowMs: number): string[] {
  return [
    name,
    formatNumber(summary.p50),
    formatNumber(summary.p95),
    formatNumber(summary.min),
    formatNumber(summary.max),
    `${summary.count}/${readings.frames}`,
    formatNumber(readings.frames / (windowMs / 1000), 1),
    readings.width > 0 ? `${readings.width}x${readings.height}` : '-',
  ];
}

export const whepGlassToGlassBench: Benchmark = {
  name: 'whep-glass-to-glass',
  async run(): Promise<BenchOutcome> {
    const windowMs = pickWindowMs(30);
    const whipPort = await findFreePort();
    const platform: Platform = await startPlatform({
      transcoder: true,
      transcoderEnv: {
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(await findFreePort()),
        WHIP_ICE_BIND: '127.0.0.1',
      },
      vars: { WHIP_INGEST_URL: `http://127.0.0.1:${whipPort}/whip` },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS, '--allow-loopback-in-peer-connection'],
    });
    try {
      const api = new ApiClient(platform.baseUrl);
      const me = await api.signup(uniqueName('glass'));
      const { stream_key: streamKey } = await api.streamKey(me.channel.id);
      const publisherPage = await (await browser.newContext()).newPage();
      // On the app's origin (a JSON answer: no CSP), so the page is a secure-enough context for
      // WebRTC and the WHIP POST is an ordinary CORS request.
      await publisherPage.goto(`${platform.baseUrl}/api/v1/health`);
      await publishClockCanvas(publisherPage, `http://127.0.0.1:${whipPort}/whip`, streamKey);
      const live = await waitFor(
        'the WHIP stream to go live',
        async () => {
          const res = await api.request<{ manifest_url: string; whep_url: string }>(
            'GET',
            `/streams/${me.channel.id}/live`,
          );
          return res.status === 200 ? res.body : undefined;
        },
        45_000,
        250,
      );

      const whepPage = await (await browser.newContext()).newPage();
      await whepPage.goto(`${platform.baseUrl}/api/v1/health`);
      await watchOverWhep(whepPage, live.whep_url, true);
      await whepPage.evaluate(installReader, '#w');
      const videoOnlyPage = await (await browser.newContext()).newPage();
      await videoOnlyPage.goto(`${platform.baseUrl}/api/v1/health`);
      await watchOverWhep(videoOnlyPage, live.whep_url, false);
      await videoOnlyPage.evaluate(installReader, '#w');
      const hlsPage = await openPlayer(await browser.newContext(), platform.baseUrl, live.manifest_url, {
        lowLatency: true,
      });
      await hlsPage.evaluate(installReader, '#v');

      // Both show a frame before the window starts, then settle.
      for (const [page, selector] of [
        [whepPage, '#w'],
        [videoOnlyPage, '#w'],
        [hlsPage, '#v'],
      ] as const) {
        await page.waitForFunction(
          (sel) => (document.querySelector<HTMLVideoElement>(sel)?.currentTime ?? 0) > 0,
          selector,
          { timeout: 45_000 },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const pages = [whepPage, videoOnlyPage, hlsPage];
      await Promise.all(pages.map((page) => setReading(page, true)));
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      await Promise.all(pages.map((page) => setReading(page, false)));
      const whep = await collect(whepPage);
      const videoOnly = await collect(videoOnlyPage);
      const videoOnlyReceiver = await readReceiverStats(videoOnlyPage);
      const videoOnlySummary = roundSummary(summarize(videoOnly.latencies), 0);
      const hls = await collect(hlsPage);
      const receiver = await readReceiverStats(whepPage);
      const hlsResyncs = (await playerState(hlsPage)).resyncs;
      // Passed through or re-encoded: the ladder passes only a 2 s GOP through, and a browser's
      // keyframes (asked for every 2 s) rarely land exactly 2 s apart.
      const master = await (await fetch(live.manifest_url)).text();
      const sourceCodecs = /CODECS="([^"]+)"/.exec(master)?.[1] ?? '-';
      const hlsLatency = await hlsPage.evaluate(
        () => (window as unknown as { hls: { latency: number } }).hls.latency,
      );
      const whepTrend = readTrend(whep.latencies);
      const hlsTrend = readTrend(hls.latencies);
      const whepSummary = roundSummary(summarize(whep.latencies), 0);
      const hlsSummary = roundSummary(summarize(hls.latencies), 0);
      const goalMet = whepSummary.p50 !== null && whepSummary.p50 <= GOAL_WHEP_P50_MS;
      return {
        table: {
          title:
            'glass-to-glass latency, ms (Date.now() drawn into the published canvas, read back from the video)',
          source: `Chromium canvas ${WIDTH}x${HEIGHT} captured at ${FPS} fps + tone, WHIP (H.264, ${VIDEO_BITRATE / 1e6} Mbps cap) to the transcoder; tier none (source rendition only)`,
          headers: ['path', 'p50', 'p95', 'min', 'max', 'read/frames', 'fps', 'size'],
          rows: [
            row('WHEP (WebRTC)', whep, whepSummary, windowMs),
            row('WHEP, video only', videoOnly, videoOnlySummary, windowMs),
            row('LL-HLS (hls.js)', hls, hlsSummary, windowMs),
          ],
          notes: [
            `window ${windowMs / 1000} s after both played + ${SETTLE_MS / 1000} s; publisher, node, Worker and both viewers on this machine (one clock)`,
            `WHEP viewers (getStats, whole session): jitter buffer ${receiver.jitterBufferMs ?? '-'} ms (video only: ${videoOnlyReceiver.jitterBufferMs ?? '-'} ms), decode ${receiver.decodeMs ?? '-'} ms per frame`,
            `p50 of the first / last third of the window: WHEP ${whepTrend.first_third_p50} / ${whepTrend.last_third_p50} ms, LL-HLS ${hlsTrend.first_third_p50} / ${hlsTrend.last_third_p50} ms; hls.latency at the end ${Number.isFinite(hlsLatency) ? hlsLatency.toFixed(2) : '-'} s`,
            `LL-HLS player (hls.js with the web app's live resync, web/src/player/live-resync.ts): jumped back to the live edge ${hlsResyncs} time(s); source rendition CODECS ${sourceCodecs}`,
            `WHEP goal p50 <= ${GOAL_WHEP_P50_MS} ms: ${goalMet ? 'met' : 'NOT met'}; frames whose check rows did not match: WHEP ${whep.undecodable}, LL-HLS ${hls.undecodable}`,
          ],
        },
        result: {
          window_ms: windowMs,
          source: { width: WIDTH, height: HEIGHT, fps: FPS, video_bitrate: VIDEO_BITRATE, ingest: 'whip' },
          whep_receiver: receiver,
          whep_video_only_receiver: videoOnlyReceiver,
          whep_video_only: {
            ...videoOnlySummary,
            frames: videoOnly.frames,
            undecodable: videoOnly.undecodable,
          },
          hls_latency_s: Number.isFinite(hlsLatency) ? hlsLatency : null,
          hls_resyncs: hlsResyncs,
          source_codecs: sourceCodecs,
          trend: { whep: whepTrend, ll_hls: hlsTrend },
          whep: {
            ...whepSummary,
            frames: whep.frames,
            undecodable: whep.undecodable,
            size: `${whep.width}x${whep.height}`,
          },
          ll_hls: {
            ...hlsSummary,
            frames: hls.frames,
            undecodable: hls.undecodable,
            size: `${hls.width}x${hls.height}`,
          },
          whep_goal_p50_ms: GOAL_WHEP_P50_MS,
          whep_goal_met: goalMet,
        },
      };
    } finally {
      await browser.close();
      await platform.stop();
    }
  },
};

if (import.meta.main) await runBenchmark(whepGlassToGlassBench);
