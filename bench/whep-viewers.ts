// CPU per WHEP viewer (docs/webrtc.md, "WHEP playback"): the transcoder (main.ts, its own process)
// with an RTMP publisher of ffmpeg's 640x360 30 fps H.264 + AAC, then 1 and then 8 libdatachannel
// viewers (in this process, not counted). The figure is the CPU time of the transcoder's process
// tree (Node with libdatachannel's threads, the pipeline's ffmpeg, the stream's Opus encoder) over a
// steady window, as % of one core. The first viewer also starts the stream's Opus encode; the next
// ones cost packetizing and SRTP only.
//   node bench/whep-viewers.ts
import { spawn } from 'node:child_process';
import type { AuthorizeResponse } from '../protocol/ingest.ts';
import { findFreePort, startTranscoder, waitForTcp } from '../scripts/lib/platform.ts';
import { waitFor } from '../test/node/rtmp/helpers.ts';
import { startFakeOrigin } from '../test/node/upload/fake-origin.ts';
import { type WhepViewerClient, watchOverWhep } from '../test/node/whep/whep-viewer-client.ts';
import { type Benchmark, type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { measure } from './whip-ingest.ts';

const VIEWERS = 8;
const GRANT: AuthorizeResponse = {
  channel_id: 'bench-whep',
  stream_id: 'bench-whep-stream',
  publish_id: 'bench-whep-publish',
  tier: 'none',
  continued: false,
  next_msn: 0,
};

export const whepViewersBench: Benchmark = {
  name: 'whep-viewers',
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
      ingestSecret: 'bench-whep-secret',
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
    const viewers: WhepViewerClient[] = [];
    // prettier-ignore
    const publisher = spawn(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-re',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=640x360:rate=30',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
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
        '-t',
        '300',
        '-f',
        'flv',
        `rtmp://127.0.0.1:${rtmpPort}/live/bench_whep_key`,
      ],
      { stdio: 'ignore' },
    );
    const whepUrl = `http://127.0.0.1:${whipPort}/whep/${GRANT.channel_id}`;
    const received = () => viewers.map((viewer) => viewer.packets.length);
    try {
      await waitForTcp(whipPort, 10_000);
      await waitFor(() => origin.requests.some((r) => r.path.includes('/part/')), 30_000, 'the pipeline');
      const none = await measure(root, windowMs);
      viewers.push(await watchOverWhep(whepUrl));
      const one = await measure(root, windowMs);
      while (viewers.length < VIEWERS) viewers.push(await watchOverWhep(whepUrl));
      const before = received();
      const many = await measure(root, windowMs);
      const after = received();
      const allFed = viewers.every(
        (viewer, index) => viewer.status === 201 && (after[index] ?? 0) > (before[index] ?? 0),
      );
      const perViewer = Math.round(((many - one) / (VIEWERS - 1)) * 10) / 10;
      return {
        table: {
          title: 'CPU per WHEP viewer (transcoder process tree, % of one core)',
          source:
            'ffmpeg 640x360 30 fps H.264 baseline + AAC over RTMP; tier none; libdatachannel viewers on loopback',
          headers: ['case', 'CPU %', 'check'],
          rows: [
            ['publisher, no WHEP viewer', `${none}`, '-'],
            ['1 viewer (adds the Opus encode)', `${one}`, '-'],
            [`${VIEWERS} viewers`, `${many}`, allFed ? 'every viewer got RTP' : 'A VIEWER GOT NO RTP'],
          ],
          notes: [
            `window ${windowMs / 1000} s per case after the warm-up; viewers' own CPU not counted`,
            `each viewer after the first: ${perViewer} % of a core; the first (with the stream's Opus encoder): ${Math.round((one - none) * 10) / 10} %`,
          ],
        },
        result: {
          no_viewer_cpu_percent: none,
          one_viewer_cpu_percent: one,
          viewers: VIEWERS,
          viewers_cpu_percent: many,
          per_extra_viewer_cpu_percent: perViewer,
          allFed,
        },
      };
    } finally {
      for (const viewer of viewers) viewer.close();
      publisher.kill('SIGKILL');
      await transcoder.stop();
      await origin.close();
    }
  },
};

if (import.meta.main) await runBenchmark(whepViewersBench);
