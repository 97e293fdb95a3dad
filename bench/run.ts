// `npm run bench`: every benchmark in turn (or the ones named: `node bench/run.ts live-latency
// transcode-speed`), one table each, JSON per benchmark in bench/results/<name>.json and the
// whole run in bench/results/summary.json. Figures are measured and printed against their goals;
// a missed goal is a figure, not a failure. Only a benchmark that could not run fails the run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { printCapacity } from '../scripts/capacity.ts';
import { ROOT } from '../scripts/lib/platform.ts';
import { chatHostileBench } from './chat/chat-hostile.ts';
import { chatRelayBench } from './chat/chat-relay.ts';
import { connectStormBench } from './chat/connect-storm.ts';
import { eventSubLatencyBench } from './eventsub-latency.ts';
import { fleetFailoverBench } from './fleet-failover.ts';
import { fleetPlacementBench } from './fleet-placement.ts';
import { helixStreamsBench } from './helix-streams.ts';
import { type Benchmark, QUICK, runBenchmark } from './lib/bench.ts';
import { describeMachine } from './lib/machine.ts';
import { RESULTS_DIR, writeResult } from './lib/results.ts';
import { liveLatencyBench } from './live-latency.ts';
import { originThroughputBench } from './origin-throughput.ts';
import { partPublishDelayBench } from './part-publish-delay.ts';
import { rtmpHostileBench } from './rtmp-hostile.ts';
import { srtIngestBench } from './srt-ingest.ts';
import { standbyFailoverBench } from './standby-failover.ts';
import { transcodeSpeedBench } from './transcode-speed.ts';
import { whepGlassToGlassBench } from './whep-glass-to-glass.ts';
import { whepViewersBench } from './whep-viewers.ts';
import { whipIngestBench } from './whip-ingest.ts';

/** The chat fan-out benchmark is its own script (bench/chat/chat-bench.ts); it gets this long. */
const CHAT_TIMEOUT_MS = 6 * 60_000;
const CLIP_LATENCY_FILE = join(ROOT, 'bench', 'clip-latency.ts');

interface Entry {
  name: string;
  run(): Promise<Record<string, unknown>>;
}

function isBenchmark(value: unknown): value is Benchmark {
  return (
    typeof value === 'object' &&
    value !== null &&
    'name' in value &&
    typeof value.name === 'string' &&
    'run' in value &&
    typeof value.run === 'function'
  );
}

function fromBenchmark(bench: Benchmark): Entry {
  return { name: bench.name, run: async () => ({ ...(await runBenchmark(bench)) }) };
}

/** The clip benchmark belongs to the VOD work and may not exist yet: loaded only when it does. */
async function loadClipLatency(): Promise<Entry | null> {
  if (!existsSync(CLIP_LATENCY_FILE)) return null;
  const path: string = CLIP_LATENCY_FILE;
  const module: Record<string, unknown> = await import(path);
  const bench = Object.values(module).find(isBenchmark);
  return bench ? fromBenchmark(bench) : null;
}

/** Runs bench/chat/chat-bench.ts as a child (its output passes through) and reads its JSON. */
const chatEntry: Entry = {
  name: 'chat',
  run: async () => {
    const args = [
      join(ROOT, 'bench', 'chat', 'chat-bench.ts'),
      ...(QUICK ? ['--sockets', '200', '--seconds', '3'] : []),
    ];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGTERM'), CHAT_TIMEOUT_MS);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (exitCode) => resolve(exitCode));
      child.once('error', () => resolve(-1));
    });
    clearTimeout(timer);
    if (code !== 0) throw new Error(`bench/chat/chat-bench.ts exited with ${code}`);
    const result: unknown = JSON.parse(await readFile(join(RESULTS_DIR, 'chat.json'), 'utf8'));
    return { name: 'chat', result };
  },
};

async function listEntries(): Promise<Entry[]> {
  const clip = await loadClipLatency();
  return [
    fromBenchmark(liveLatencyBench),
    fromBenchmark(partPublishDelayBench),
    fromBenchmark(originThroughputBench),
    fromBenchmark(transcodeSpeedBench),
    fromBenchmark(rtmpHostileBench),
    fromBenchmark(whipIngestBench),
    fromBenchmark(srtIngestBench),
    fromBenchmark(whepViewersBench),
    fromBenchmark(whepGlassToGlassBench),
    fromBenchmark(fleetPlacementBench),
    fromBenchmark(fleetFailoverBench),
    fromBenchmark(standbyFailoverBench),
    fromBenchmark(helixStreamsBench),
    fromBenchmark(eventSubLatencyBench),
    ...(clip ? [clip] : []),
    chatEntry,
    fromBenchmark(chatHostileBench),
    fromBenchmark(connectStormBench),
    fromBenchmark(chatRelayBench),
  ];
}

async function main(): Promise<number> {
  const entries = await listEntries();
  const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const unknown = wanted.filter((name) => !entries.some((entry) => entry.name === name));
  if (process.argv.includes('--list') || unknown.length > 0) {
    if (unknown.length > 0) process.stderr.write(`unknown benchmark: ${unknown.join(', ')}\n`);
    process.stdout.write(`benchmarks: ${entries.map((entry) => entry.name).join(' ')}\n`);
    return unknown.length > 0 ? 2 : 0;
  }
  const selected = wanted.length === 0 ? entries : entries.filter((entry) => wanted.includes(entry.name));
  const machine = await describeMachine();
  const started = performance.now();
  const outcomes: Array<Record<string, unknown>> = [];
  for (const entry of selected) {
    const benchStarted = performance.now();
    process.stdout.write(`\n>> ${entry.name}\n`);
    try {
      const outcome = await entry.run();
      const wallSeconds = Math.round((performance.now() - benchStarted) / 100) / 10;
      outcomes.push({ name: entry.name, ok: true, wall_seconds: wallSeconds, ...outcome });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`!! ${entry.name} could not run: ${message}\n`);
      outcomes.push({
        name: entry.name,
        ok: false,
        error: message,
        wall_seconds: Math.round((performance.now() - benchStarted) / 100) / 10,
      });
    }
  }
  const path = await writeResult('summary', {
    measured_at: machine.measuredAt,
    machine,
    quick: QUICK,
    wall_seconds: Math.round((performance.now() - started) / 100) / 10,
    benchmarks: outcomes,
  });
  // The capacity and cost model at the seed's scale, from the figures just measured (docs/capacity.md).
  printCapacity();
  const failed = outcomes.filter((outcome) => outcome.ok === false).map((outcome) => outcome.name);
  process.stdout.write(
    `\n${outcomes.length} benchmark(s) in ${Math.round((performance.now() - started) / 1000)} s; results in ${path}` +
      `${failed.length > 0 ? `; could not run: ${failed.join(', ')}` : ''}\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
