// What every benchmark returns to bench/run.ts, and how one runs on its own
// (`node bench/<name>.ts`): describe the machine, run, print the table, write the JSON.
import { describeMachine, type Machine } from './machine.ts';
import { writeResult } from './results.ts';
import { printTable, type Table } from './table.ts';

export interface BenchOutcome {
  table: Table;
  /** Written to bench/results/<name>.json with the machine; measured values only. */
  result: Record<string, unknown>;
}

/** The value after `--name` on the command line (`node bench/... --sockets 200`), or `fallback`. */
export function readArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export interface Benchmark {
  name: string;
  run(): Promise<BenchOutcome>;
}

export interface BenchRecord {
  name: string;
  machine: Machine;
  wall_seconds: number;
  source: string;
  result: Record<string, unknown>;
}

export async function runBenchmark(bench: Benchmark): Promise<BenchRecord> {
  const machine = await describeMachine();
  const started = performance.now();
  const outcome = await bench.run();
  const record: BenchRecord = {
    name: bench.name,
    machine,
    wall_seconds: Math.round((performance.now() - started) / 100) / 10,
    source: outcome.table.source,
    result: outcome.result,
  };
  printTable(outcome.table, machine);
  await writeResult(bench.name, record);
  return record;
}

/** BENCH_QUICK=1 shortens every measured window (a smoke run of the benchmarks, not figures). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** A measured window in ms: `seconds` normally, a fifth of it (at least 3 s) in a quick run. */
export function pickWindowMs(seconds: number): number {
  return (QUICK ? Math.max(3, Math.round(seconds / 5)) : seconds) * 1000;
}
