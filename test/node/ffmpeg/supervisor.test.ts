import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type FfmpegRun, FfmpegSupervisor } from '../../../containers/transcoder/src/ffmpeg/supervisor.ts';

// A real-time (-re) ffmpeg that runs until stopped and writes fragmented MP4 to fd 3.
const ENDLESS_ARGS = [
  '-hide_banner',
  '-loglevel',
  'warning',
  '-stats',
  '-stats_period',
  '0.5',
  '-re',
  '-f',
  'lavfi',
  '-i',
  'testsrc2=size=160x90:rate=15',
  '-c:v',
  'libx264',
  '-preset',
  'ultrafast',
  '-f',
  'mp4',
  '-movflags',
  '+cmaf+frag_keyframe',
  '-frag_duration',
  '200000',
  'pipe:3',
];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function waitForRun(supervisor: FfmpegSupervisor, timeoutMs: number): Promise<FfmpegRun> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ffmpeg run within ${timeoutMs} ms`)), timeoutMs);
    const unsubscribe = supervisor.onRun((run) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(run);
    });
  });
}

async function readSomeBytes(run: FfmpegRun): Promise<Buffer> {
  const output = run.outputs[0];
  if (output === undefined) throw new Error('no output');
  const [chunk] = await once(output, 'data');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.alloc(0);
}

describe('ffmpeg supervisor', () => {
  const supervisors: FfmpegSupervisor[] = [];
  afterEach(async () => {
    await Promise.all(supervisors.splice(0).map((supervisor) => supervisor.close()));
  });

  it('restarts ffmpeg within 2 s after it is killed, with fresh pipes', async () => {
    const supervisor = new FfmpegSupervisor({ args: ENDLESS_ARGS, outputFds: [3] });
    supervisors.push(supervisor);
    const firstRun = waitForRun(supervisor, 5000);
    supervisor.start();
    const first = await firstRun;
    expect((await readSomeBytes(first)).subarray(4, 8).toString('latin1')).toBe('ftyp');
    const exits: Array<NodeJS.Signals | null> = [];
    supervisor.onExit((_code, signal) => exits.push(signal));

    const killedAt = Date.now();
    const secondRun = waitForRun(supervisor, 2000);
    process.kill(first.pid, 'SIGKILL');
    const second = await secondRun;
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(second.id).toBe(first.id + 1);
    expect(second.pid).not.toBe(first.pid);
    expect(exits).toEqual(['SIGKILL']);
    expect(supervisor.currentRun?.pid).toBe(second.pid);
    expect((await readSomeBytes(second)).subarray(4, 8).toString('latin1')).toBe('ftyp');
  });

  it('leaves no ffmpeg process behind after close() and does not restart it', async () => {
    const supervisor = new FfmpegSupervisor({ args: ENDLESS_ARGS, outputFds: [3] });
    supervisors.push(supervisor);
    const started = waitForRun(supervisor, 5000);
    supervisor.start();
    const run = await started;
    await readSomeBytes(run);
    // Let ffmpeg report progress so the bench figure exists (its first report can say 0x on a busy machine).
    const deadline = Date.now() + 10_000;
    while ((supervisor.speed ?? 0) <= 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(supervisor.speed).toBeGreaterThan(0);

    let restarted = false;
    supervisor.onRun(() => {
      restarted = true;
    });
    await supervisor.close();
    expect(isAlive(run.pid)).toBe(false);
    expect(() => process.kill(run.pid, 0)).toThrow();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(restarted).toBe(false);
    expect(supervisor.currentRun).toBeNull();
  });

  it('gives up and reports fatal after repeated fast failures, keeping the stderr tail', async () => {
    const supervisor = new FfmpegSupervisor({
      args: ['-hide_banner', '-f', 'lavfi', '-i', 'no_such_source', '-f', 'null', '-'],
      outputFds: [],
      maxFailures: 3,
    });
    supervisors.push(supervisor);
    let runs = 0;
    supervisor.onRun(() => {
      runs += 1;
    });
    const fatal = new Promise<Error>((resolve) => supervisor.onFatal(resolve));
    supervisor.start();
    const error = await fatal;
    expect(runs).toBe(3);
    expect(error.message).toMatch(/failed 3 times/);
    expect(supervisor.stderrTail.join('\n')).toMatch(/no_such_source/);
    expect(supervisor.currentRun).toBeNull();
  });
});
