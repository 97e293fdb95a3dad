// Helpers for tests that read Prometheus text exposition and run `promtool` (Debian's prometheus
// package, installed by scripts/ensure-env.sh). A missing promtool fails the test that needs it
// with one sentence saying how to install it: a check that cannot run must not pass.
import { spawn, spawnSync } from 'node:child_process';

/** The value of one sample, matched by name and exactly these labels (any order); undefined if absent. */
export function readSample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = (match[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((pair) => pair !== '' && !pair.startsWith('node='));
    if (given.sort().join(',') === wanted.join(',')) return Number(match[3]);
  }
  return undefined;
}

/** Polls `check` every 100 ms until it returns true, for at most `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const PROMTOOL_MISSING =
  "promtool is missing: run `bash scripts/ensure-env.sh -- true` as root (it installs Debian's prometheus package) or `apt-get install prometheus`, then run the tests again.";

/** The promtool binary, or throws PROMTOOL_MISSING. */
export function requirePromtool(): string {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) throw new Error(PROMTOOL_MISSING);
  return 'promtool';
}

/** Runs promtool with `args`, `input` on stdin; resolves with its exit code and output. */
export function runPromtool(args: string[], input = ''): Promise<{ code: number; output: string }> {
  const bin = requirePromtool();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
    child.stdin.end(input);
  });
}
