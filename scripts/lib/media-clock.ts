// When media time 0 left an ffmpeg publisher running with `-re` and `-progress pipe:1`: a latency
// figure that is to start at the publisher needs that clock, independent of the server's.
import type { Readable } from 'node:stream';

const PROGRESS_TIME = /^out_time_us=(\d+)$/;

/**
 * Reads ffmpeg's `-progress` lines from `stdout`; the returned function gives the wall clock
 * (epoch ms) at which media time 0 was read, so media time t left at that + t, or null before the
 * first report.
 */
export function trackMediaZero(stdout: Readable | null): () => number | null {
  let zeroAt: number | null = null;
  let pending = '';
  stdout?.setEncoding('utf8');
  stdout?.on('data', (text: string) => {
    const now = Date.now();
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const match = PROGRESS_TIME.exec(line.trim());
      if (!match?.[1]) continue;
      // A progress report is written after the time it names was muxed, never before: the
      // earliest (now − t) over all reports is the closest bound on when media time 0 was read.
      const candidate = now - Number(match[1]) / 1000;
      if (Number(match[1]) > 0 && (zeroAt === null || candidate < zeroAt)) zeroAt = candidate;
    }
  });
  return () => zeroAt;
}
