// In-node hot standby (issue 11, docs/deploy.md "Hot standby"): failover gap p50/max after kill -9
// of a partner stream's active ffmpeg, with and without a standby, and the CPU a standby costs.
// The rounds run in a child process (scripts/standby-failover-rounds.ts: the real pipeline, two real
// ffmpegs, an origin stand-in on loopback); this file turns them into the table.
//   node bench/standby-failover.ts
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ROOT } from '../scripts/lib/platform.ts';
import { type Benchmark, type BenchOutcome, QUICK, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';

const ROUNDS = QUICK ? 2 : 10;
const ROUNDS_TIMEOUT_MS = 10 * 60_000;

const Kill = z.object({ gapMs: z.number(), mediaLostMs: z.number(), discontinuity: z.boolean() });
const Mode = z.object({
  kills: z.array(Kill),
  cpu: z.object({ active: z.number(), standby: z.number() }).nullable(),
});
const Rounds = z.object({
  source: z.object({ width: z.number(), height: z.number(), fps: z.number() }),
  rounds: z.number(),
  results: z.object({ standby: Mode, none: Mode }),
});

async function runRounds(): Promise<z.infer<typeof Rounds>> {
  const dir = mkdtempSync(join(tmpdir(), 'standby-bench-'));
  const out = join(dir, 'rounds.json');
  try {
    const script = join(ROOT, 'scripts', 'standby-failover-rounds.ts');
    const child = spawn(process.execPath, [script, out, '--rounds', String(ROUNDS)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), ROUNDS_TIMEOUT_MS);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (exitCode) => resolve(exitCode));
      child.once('error', () => resolve(-1));
    });
    clearTimeout(timer);
    if (code !== 0) throw new Error(`scripts/standby-failover-rounds.ts exited with ${code}`);
    return Rounds.parse(JSON.parse(await readFile(out, 'utf8')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(): Promise<BenchOutcome> {
  const { source, rounds, results } = await runRounds();
  const firstKills = results.standby.kills.filter((_, index) => index % 2 === 0);
  const secondKills = results.standby.kills.filter((_, index) => index % 2 === 1);
  const cases = [
    ['with standby, first kill (identical standby)', firstKills],
    ['with standby, second kill (restarted standby)', secondKills],
    ['without standby (ffmpeg restart, today)', results.none.kills],
  ] as const;
  const summaries = cases.map(([label, kills]) => ({
    label,
    kills: kills.length,
    gap_ms: roundSummary(summarize(kills.map((kill) => kill.gapMs)), 0),
    media_lost_ms: roundSummary(summarize(kills.map((kill) => kill.mediaLostMs)), 0),
    discontinuities: kills.filter((kill) => kill.discontinuity).length,
  }));
  const cpu = results.standby.cpu;
  return {
    table: {
      title: 'In-node hot standby: failover after kill -9 of the active ffmpeg (partner ladder)',
      source: `source ${source.width}x${source.height} ${source.fps} fps H.264 1.2 Mbps 2 s GOP + AAC fed in real time; ladder source (copy) + 360p30 + 160p30 (x264 veryfast) + audio`,
      headers: ['case', 'kills', 'gap p50 ms', 'gap max ms', 'media lost max ms', 'discontinuities'],
      rows: [
        ...summaries.map((s) => [
          s.label,
          String(s.kills),
          formatNumber(s.gap_ms.p50),
          formatNumber(s.gap_ms.max),
          formatNumber(s.media_lost_ms.max),
          String(s.discontinuities),
        ]),
        [
          'CPU, cores: active ffmpeg / standby ffmpeg',
          '-',
          formatNumber(cpu?.active, 2),
          formatNumber(cpu?.standby, 2),
          '-',
          '-',
        ],
      ],
      notes: [
        `${rounds} rounds per mode, each a fresh publish; the gap is between the last source part uploaded before the kill and the first after it, at the origin stand-in (one every ~200 ms normally)`,
        'media lost: media time skipped across the kill (0 when the part sequence continues)',
      ],
    },
    result: { source, rounds, cases: summaries, cpu_cores: cpu },
  };
}

export const standbyFailoverBench: Benchmark = { name: 'standby-failover', run: measure };

if (import.meta.main) await runBenchmark(standbyFailoverBench);
