// SRT and WHIP ingest beside RTMP in one run (docs/srt.md, docs/webrtc.md): the transcoder (main.ts,
// its own process) with SRT and WHIP on, an origin stand-in on loopback that accepts everything,
// and one publisher at a time — ffmpeg's 640x360 30 fps H.264 (2 s GOP, x264 veryfast zerolatency,
// 800 kb/s) + AAC, over RTMP, then the same encode as MPEG-TS over SRT with AES-128 (passphrase),
// then a WHIP publisher (test/node/whip/whip-publisher.ts: ffmpeg's 640x360 30 fps Constrained
// Baseline, 2 s GOP, + Opus, as RTP through a libdatachannel PeerConnection, as OBS's WHIP output
// sends). Two figures per protocol:
// - publish→part latency: when each LL-HLS part of the source rendition reached the origin, minus
//   when the last frame it holds left the publisher (ffmpeg `-re` + `-progress`: media time t left
//   at mediaZeroAt + t, bench/lib/publisher.ts). This is the ingest half of SRT→LL-HLS latency; the
//   other half (playlist, CDN, player) is the same whatever the publisher used, and live-latency.ts
//   measures it for RTMP.
// - CPU of the transcoder's process tree (Node, the pipeline's ffmpeg and, for SRT, the TS bridge
//   ffmpeg) over a steady window, as % of one core; the publishers' own encoding is not counted.
// Another run publishes over SRT with `-pes_payload_size 0` on the publisher's MPEG-TS muxer.
// Tier "none" with a 2 s GOP: the source is passed through and audio encoded, in both cases.
//   node bench/srt-ingest.ts
import type { AuthorizeResponse } from '../protocol/ingest.ts';
import { findFreePort, startTranscoder } from '../scripts/lib/platform.ts';
import { waitFor } from '../test/node/rtmp/helpers.ts';
import { findFreeUdpPort, srtUrl } from '../test/node/srt/srt-publisher.ts';
import { type FakeOrigin, startFakeOrigin } from '../test/node/upload/fake-origin.ts';
import { publishOverWhip } from '../test/node/whip/whip-publisher.ts';
import { type Benchmark, type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { startClockedPublisher } from './lib/publisher.ts';
import { formatNumber, roundSummary, type Summary, summarize } from './lib/stats.ts';
import { measure } from './whip-ingest.ts';

const SOURCE = { size: '640x360', fps: 30, videoBitrate: '800k' };
const PASSPHRASE = 'bench-srt-passphrase-0001';
const KEY = 'live_bench_srt_key';

function grantFor(publishId: string): AuthorizeResponse {
  return {
    channel_id: 'bench-chan',
    stream_id: 'bench-stream',
    publish_id: publishId,
    tier: 'none',
    continued: false,
    next_msn: 0,
  };
}

interface PartArrival {
  msn: number;
  part: number;
  duration: number;
  receivedAt: number;
}

/** The source rendition's parts of one publish, in order, with their arrival at the origin. */
function partsOf(origin: FakeOrigin, publishId: string): PartArrival[] {
  const parts: PartArrival[] = [];
  for (const request of origin.requests) {
    const segments = request.path.split('/');
    if (segments[4] !== publishId || segments[5] !== 'part' || segments[6] !== 'source') continue;
    const header = request.headers['x-ingest-meta'];
    if (typeof header !== 'string') continue;
    const meta = JSON.parse(header) as { msn: number; part: number; duration: number };
    parts.push({ msn: meta.msn, part: meta.part, duration: meta.duration, receivedAt: request.receivedAt });
  }
  return parts.sort((a, b) => a.msn - b.msn || a.part - b.part);
}

/** The source's GOP: the pipeline's timeline starts on one of the publisher's keyframes. */
const GOP_SECONDS = 2;

/**
 * Arrival minus the moment the part's last frame left the publisher, per part, after warm-up. The
 * pipeline's media time 0 is the first keyframe it started on, which is the publisher's keyframe at
 * k × GOP for some k ≥ 0 (a start that missed the first GOP, e.g. while the bridge probed): k is the
 * largest for which no part arrives before its last frame was sent, a part being unable to.
 */
function partLatencies(
  parts: readonly PartArrival[],
  mediaZeroAt: number,
  skipMediaSeconds: number,
): number[] {
  const base: number[] = [];
  let mediaEnd = 0;
  for (const part of parts) {
    mediaEnd += part.duration;
    if (mediaEnd < skipMediaSeconds) continue;
    base.push(part.receivedAt - (mediaZeroAt + mediaEnd * 1000));
  }
  const gops = base.length === 0 ? 0 : Math.max(0, Math.floor(Math.min(...base) / (GOP_SECONDS * 1000)));
  return base.map((latency) => latency - gops * GOP_SECONDS * 1000);
}

interface RunningPublisher {
  mediaZeroAt(): number | null;
  stop(): Promise<unknown>;
  describe(): string;
}

async function measurePublish(
  publisher: RunningPublisher,
  origin: FakeOrigin,
  publishId: string,
  root: number,
  windowMs: number,
): Promise<{ cpu: number; latency: Summary; parts: number }> {
  try {
    const cpu = await measure(root, windowMs);
    const zero = publisher.mediaZeroAt();
    if (zero === null) throw new Error(`the publisher reported no progress: ${publisher.describe()}`);
    const parts = partsOf(origin, publishId);
    // The first 4 s are the pipeline's start (probe, ladder plan): not the steady state.
    return { cpu, latency: summarize(partLatencies(parts, zero, 4)), parts: parts.length };
  } finally {
    await publisher.stop();
  }
}

function publishAndMeasure(
  url: string,
  format: 'flv' | 'mpegts',
  origin: FakeOrigin,
  publishId: string,
  root: number,
  windowMs: number,
  outputArgs: string[] = [],
): Promise<{ cpu: number; latency: Summary; parts: number }> {
  const publisher = startClockedPublisher(url, { ...SOURCE, format, outputArgs });
  return measurePublish(
    { mediaZeroAt: publisher.mediaZeroAt, stop: publisher.stop, describe: () => publisher.stderr.join('') },
    origin,
    publishId,
    root,
    windowMs,
  );
}

async function whipAndMeasure(
  whipUrl: string,
  origin: FakeOrigin,
  publishId: string,
  root: number,
  windowMs: number,
): Promise<{ cpu: number; latency: Summary; parts: number }> {
  // Long enough for the warm-up and the window; stopped when measured.
  const publisher = await publishOverWhip(whipUrl, KEY, Math.ceil(windowMs / 1000) + 30);
  if (publisher.status !== 201) throw new Error(`the WHIP offer was answered ${publisher.status}`);
  return measurePublish(
    {
      mediaZeroAt: publisher.mediaZeroAt,
      stop: async () => publisher.close(),
      describe: () => `WHIP session ${publisher.location}`,
    },
    origin,
    publishId,
    root,
    windowMs,
  );
}

export const srtIngestBench: Benchmark = {
  name: 'srt-ingest',
  async run(): Promise<BenchOutcome> {
    const windowMs = pickWindowMs(15);
    const origin = await startFakeOrigin();
    let publishes = 0;
    origin.respond((request) => {
      if (request.path.endsWith('/srt-passphrase'))
        return { status: 200, body: JSON.stringify({ passphrase: PASSPHRASE }) };
      if (!request.path.endsWith('/authorize')) return { status: 204 };
      publishes += 1;
      return { status: 200, body: JSON.stringify(grantFor(`bench-publish-${publishes}`)) };
    });
    const rtmpPort = await findFreePort();
    const srtPort = await findFreeUdpPort();
    const whipPort = await findFreePort();
    const transcoder = await startTranscoder({
      rtmpPort,
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'bench-srt-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        SRT_PORT: String(srtPort),
        SRT_HOST: '127.0.0.1',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(await findFreeUdpPort()),
        WHIP_ICE_BIND: '127.0.0.1',
      },
    });
    const root = transcoder.child.pid ?? 0;
    try {
      const idle = await measure(root, 3_000);
      const rtmp = await publishAndMeasure(
        `rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`,
        'flv',
        origin,
        'bench-publish-1',
        root,
        windowMs,
      );
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/bench-publish-1/end')),
        15_000,
        'the RTMP publish to end',
      );
      const srt = await publishAndMeasure(
        srtUrl(srtPort, KEY, PASSPHRASE),
        'mpegts',
        origin,
        'bench-publish-2',
        root,
        windowMs,
      );
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/bench-publish-2/end')),
        15_000,
        'the first SRT publish to end',
      );
      // The same, the publisher's MPEG-TS muxer writing each audio frame as its own PES packet
      // (its default packs up to 2,930 bytes, ~0.37 s of this audio, and the bridge's FLV
      // interleaving makes video wait for the audio that covers it).
      const srtSmallPes = await publishAndMeasure(
        srtUrl(srtPort, KEY, PASSPHRASE),
        'mpegts',
        origin,
        'bench-publish-3',
        root,
        windowMs,
        ['-pes_payload_size', '0'],
      );
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/bench-publish-3/end')),
        15_000,
        'the second SRT publish to end',
      );
      const whip = await whipAndMeasure(
        `http://127.0.0.1:${whipPort}/whip`,
        origin,
        'bench-publish-4',
        root,
        windowMs,
      );
      const row = (name: string, m: { cpu: number; latency: Summary; parts: number }) => [
        name,
        formatNumber(m.latency.p50),
        formatNumber(m.latency.p95),
        formatNumber(m.latency.max),
        `${m.cpu}`,
        `${m.parts}`,
      ];
      return {
        table: {
          title:
            'SRT and WHIP beside RTMP: publish→part latency (ms) and CPU per publisher (transcoder process tree, % of one core)',
          source:
            'ffmpeg 640x360 30 fps H.264 800 kb/s, 2 s GOP, AAC (RTMP, SRT with AES-128 and latency 120 ms); WHIP: ffmpeg 640x360 30 fps Constrained Baseline, 2 s GOP, Opus, over libdatachannel; tier none (source passthrough + audio)',
          headers: ['publisher', 'p50', 'p95', 'max', 'CPU %', 'parts'],
          rows: [
            ['idle (no publisher)', '-', '-', '-', `${idle}`, '-'],
            row('RTMP', rtmp),
            row('SRT', srt),
            row('SRT, publisher -pes_payload_size 0', srtSmallPes),
            row('WHIP', whip),
          ],
          notes: [
            `window ${windowMs / 1000} s after 6 s of warm-up; parts of the first 4 s of media left out; publishers' own encoding not counted`,
            'latency = a part reaching the origin minus its last frame leaving the publisher (-re clock): the ingest half of →LL-HLS latency, the playback half being the same for both',
            `SRT minus RTMP: ${formatNumber((srt.latency.p50 ?? 0) - (rtmp.latency.p50 ?? 0))} ms at p50, ${Math.round((srt.cpu - rtmp.cpu) * 10) / 10} % of a core (SRT adds AES-CTR, the receive buffer in Node and the TS→FLV bridge ffmpeg)`,
            `WHIP minus RTMP: ${formatNumber((whip.latency.p50 ?? 0) - (rtmp.latency.p50 ?? 0))} ms at p50, ${Math.round((whip.cpu - rtmp.cpu) * 10) / 10} % of a core (WHIP adds ICE/DTLS-SRTP in libdatachannel and the RTP→FLV bridge ffmpeg, which encodes the Opus to AAC)`,
          ],
        },
        result: {
          idle_cpu_percent: idle,
          rtmp: { cpu_percent: rtmp.cpu, latency_ms: roundSummary(rtmp.latency), parts: rtmp.parts },
          srt: { cpu_percent: srt.cpu, latency_ms: roundSummary(srt.latency), parts: srt.parts },
          srt_small_pes: {
            cpu_percent: srtSmallPes.cpu,
            latency_ms: roundSummary(srtSmallPes.latency),
            parts: srtSmallPes.parts,
          },
          whip: { cpu_percent: whip.cpu, latency_ms: roundSummary(whip.latency), parts: whip.parts },
        },
      };
    } finally {
      await transcoder.stop();
      await origin.close();
    }
  },
};

if (import.meta.main) await runBenchmark(srtIngestBench);
