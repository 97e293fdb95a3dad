// CPU per WHIP publisher beside an RTMP publisher of the same source: the transcoder (main.ts, its
// own process) with WHIP on, an origin stand-in on loopback that accepts everything, and one
// publisher at a time — ffmpeg's 640x360 30 fps H.264 (2 s GOP) + audio, over RTMP, then over WHIP
// (the same encode as RTP through a libdatachannel PeerConnection, Opus audio). The figure is the
// CPU time of the transcoder's process tree (Node, the pipeline's ffmpeg and, for WHIP, the bridge
// ffmpeg) over a steady window, as % of one core; the publishers' own encoding is not counted.
// Tier "none" with a 2 s GOP: the source is passed through and audio encoded, in both cases.
//   node bench/whip-ingest.ts
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { AuthorizeResponse } from '../protocol/ingest.ts';
import { findFreePort, startTranscoder, waitForTcp } from '../scripts/lib/platform.ts';
import { waitFor } from '../test/node/rtmp/helpers.ts';
import { startFakeOrigin } from '../test/node/upload/fake-origin.ts';
import { publishOverWhip } from '../test/node/whip/whip-publisher.ts';
import { type Benchmark, type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';

const WARMUP_MS = 6_000;
const CLOCK_TICKS = 100;

const GRANT: AuthorizeResponse = {
  channel_id: 'bench-chan',
  stream_id: 'bench-stream',
  publish_id: 'bench-publish',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

/** utime + stime of a process and every descendant, in clock ticks (proc(5): fields 14 and 15). */
export function treeTicks(root: number): number {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended while being read.
    }
  }
  const inTree = (pid: number): boolean => {
    for (let at = pid, hops = 0; at > 1 && hops < 32; hops += 1) {
      if (at === root) return true;
      at = parents.get(at) ?? 0;
    }
    return false;
  };
  let total = 0;
  for (const [pid, value] of ticks) if (inTree(pid)) total += value;
  return total;
}

export async function measure(root: number, windowMs: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  const before = treeTicks(root);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const seconds = (performance.now() - started) / 1000;
  return Math.round(((treeTicks(root) - before) / CLOCK_TICKS / seconds) * 1000) / 10;
}

export const whipIngestBench: Benchmark = {
  name: 'whip-ingest',
  async run(): Promise<BenchOutcome> {
    const windowMs = pickWindowMs(15);
    const origin = await startFakeOrigin();
    origin.respond((request) =>
      request.path.endsWith('/authorize') ? { status: 200, body: JSON.stringify(GRANT) } : { status: 204 },
    );
    const rtmpPort = await findFreePort();
    const whipPort = await findFreePort();
    const transcoder = await startTranscoder({
      rtmpPort,
      httpPort: await findFreePort(),
      originUrl: origin.baseUrl,
      ingestSecret: 'bench-whip-secret',
      env: {
        RTMP_HOST: '127.0.0.1',
        TRANSCODER_ENCODER: 'x264',
        WHIP_PORT: String(whipPort),
        WHIP_HOST: '127.0.0.1',
        WHIP_ICE_PORT: String(await findFreePort()),
        WHIP_ICE_BIND: '127.0.0.1',
      },
    });
    const root = transcoder.child.pid ?? 0;
    const seconds = Math.ceil((WARMUP_MS + windowMs) / 1000) + 10;
    const parts = () => origin.requests.filter((r) => r.path.includes('/part')).length;
    try {
      await waitForTcp(whipPort, 10_000);
      const idle = await measure(root, 3_000);
      // prettier-ignore
      const rtmp = spawn(
        'ffmpeg',
        [
          '-hide_banner',
          '-loglevel',
          'error',
          '-re',
          '-f',
          'lavfi',
          '-i',
          `testsrc2=size=640x360:rate=30:duration=${seconds}`,
          '-f',
          'lavfi',
          '-i',
          `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-tune',
          'zerolatency',
          '-profile:v',
          'baseline',
          '-g',
          '60',
          '-pix_fmt',
          'yuv420p',
          '-c:a',
          'aac',
          '-b:a',
          '64k',
          '-f',
          'flv',
          `rtmp://127.0.0.1:${rtmpPort}/live/bench_key`,
        ],
        { stdio: 'ignore' },
      );
      const rtmpParts = parts();
      const rtmpCpu = await measure(root, windowMs);
      const rtmpOk = parts() > rtmpParts;
      rtmp.kill('SIGKILL');
      await waitFor(
        () => origin.requests.some((r) => r.path.endsWith('/end')),
        15_000,
        'the RTMP publish to end',
      );

      const whip = await publishOverWhip(`http://127.0.0.1:${whipPort}/whip`, 'bench_key', seconds);
      const whipParts = parts();
      const whipCpu = await measure(root, windowMs);
      const whipOk = whip.status === 201 && parts() > whipParts;
      whip.close();
      const rows = [
        ['idle (no publisher)', `${idle}`, '-'],
        ['RTMP publisher', `${rtmpCpu}`, rtmpOk ? 'parts uploaded' : 'NO PARTS'],
        ['WHIP publisher', `${whipCpu}`, whipOk ? 'parts uploaded' : 'NO PARTS'],
      ];
      return {
        table: {
          title: 'CPU per publisher: WHIP beside RTMP (transcoder process tree, % of one core)',
          source: 'ffmpeg 640x360 30 fps H.264 baseline, 2 s GOP; tier none (source passthrough + audio)',
          headers: ['case', 'CPU %', 'check'],
          rows,
          notes: [
            `window ${windowMs / 1000} s after ${WARMUP_MS / 1000} s of warm-up; publishers' own encoding not counted`,
            `WHIP minus RTMP: ${Math.round((whipCpu - rtmpCpu) * 10) / 10} % of a core (WHIP adds SRTP, the bridge ffmpeg and Opus → AAC; RTMP has its chunk parsing in Node)`,
          ],
        },
        result: {
          idle_cpu_percent: idle,
          rtmp_cpu_percent: rtmpCpu,
          whip_cpu_percent: whipCpu,
          rtmpOk,
          whipOk,
        },
      };
    } finally {
      await transcoder.stop();
      await origin.close();
    }
  },
};

if (import.meta.main) await runBenchmark(whipIngestBench);
