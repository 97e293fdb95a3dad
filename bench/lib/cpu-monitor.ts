// How busy the whole machine was while a benchmark measured (from /proc/stat): on a small shared
// host a latency spike with every core busy is starvation, not the code under test.
import { readFile } from 'node:fs/promises';

export interface CpuMonitor {
  /** Stops sampling; [seconds since start, percent of all cores busy] once a second. */
  stop(): Array<[number, number]>;
}

async function readCpuTimes(): Promise<{ busy: number; total: number } | null> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

export function startCpuMonitor(intervalMs = 1000): CpuMonitor {
  const started = Date.now();
  const samples: Array<[number, number]> = [];
  let previous: { busy: number; total: number } | null = null;
  let stopped = false;
  const tick = async () => {
    const now = await readCpuTimes();
    if (stopped) return;
    if (now !== null && previous !== null && now.total > previous.total) {
      const percent = ((now.busy - previous.busy) / (now.total - previous.total)) * 100;
      samples.push([Math.round((Date.now() - started) / 100) / 10, Math.round(percent)]);
    }
    previous = now;
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      return samples;
    },
  };
}
