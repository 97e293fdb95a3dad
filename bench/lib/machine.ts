// What the figures were measured on: a benchmark without its machine is not a figure.
import { execFile } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  ffmpeg: string;
  /** 1, 5 and 15 minute load averages when the benchmark started: others' work skews figures. */
  loadAverage: number[];
  measuredAt: string;
}

function readFfmpegVersion(): Promise<string> {
  return new Promise((resolve) => {
    execFile('ffmpeg', ['-hide_banner', '-version'], { timeout: 10_000 }, (error, stdout) => {
      const match = /ffmpeg version (\S+)/.exec(String(stdout));
      resolve(error === null && match?.[1] ? match[1] : 'unknown');
    });
  });
}

export async function describeMachine(): Promise<Machine> {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    node: process.versions.node,
    ffmpeg: await readFfmpegVersion(),
    loadAverage: loadavg(),
    measuredAt: new Date().toISOString(),
  };
}
