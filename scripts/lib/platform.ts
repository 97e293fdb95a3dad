// Starts the pieces of the platform as local processes: the Worker under `wrangler dev` (workerd
// with local D1, R2, Durable Objects and Queues persisted on disk) and the transcoder as a plain
// Node process (there is no Docker engine on a developer machine, so containers are disabled).
// Used by `npm start`, the end-to-end tests and the benchmarks.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const VITE = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process (group) has gone. */
  readonly exited: Promise<number | null>;
  /** The last lines it printed (stdout and stderr), for an error that says why it stopped. */
  outputTail(): readonly string[];
  stop(): Promise<void>;
}

const OUTPUT_TAIL_LINES = 20;

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Echo the child's output, prefixed with its name. */
  echo?: boolean;
  /** Called with each line of output (stdout and stderr). */
  onLine?: (line: string) => void;
}

/** Every managed process still running, so a failed or interrupted start can stop them all. */
const running = new Set<ManagedProcess>();

/** Stops every process this module started (npm start's Ctrl-C, a failed start). */
export async function stopAllManaged(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.stop()));
}

/** Spawns a child in its own process group so stop() takes its children (workerd, ffmpeg) too. */
export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ManagedProcess {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => resolveExit(code));
    child.once('error', () => resolveExit(-1));
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
        options.onLine?.(line);
        if (options.echo) process.stdout.write(`[${name}] ${line}\n`);
      }
    });
  }
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      killGroup('SIGTERM');
      const timer = setTimeout(() => killGroup('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      killGroup('SIGKILL');
    })();
    return stopping;
  };
  const managed: ManagedProcess = { name, child, exited, stop, outputTail: () => tail };
  running.add(managed);
  void exited.then(() => running.delete(managed));
  return managed;
}

/** Runs a command to completion; rejects with its output when it fails. */
export async function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<string> {
  const lines: string[] = [];
  const proc = spawnManaged(command, command, args, { env, onLine: (line) => lines.push(line) });
  const code = await proc.exited;
  if (code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${lines.slice(-40).join('\n')}`);
  return lines.join('\n');
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** True when a TCP listener can take 127.0.0.1:port now. */
function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

/**
 * A run of `size` consecutive TCP ports, all free now, between 20000 and 29999: below the kernel's
 * ephemeral range (32768 and up on Linux), so no outgoing connection of a test running beside it
 * takes one between this check and the listener that binds it (a port next to a findFreePort()
 * answer can be).
 */
export async function findFreePortBlock(size: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * (10_000 - size));
    let free = true;
    for (let port = base; port < base + size && free; port += 1) free = await tcpPortFree(port);
    if (free) return base;
  }
  throw new Error(`no ${size} consecutive free TCP ports between 20000 and 29999`);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error(`stopped waiting for ${what}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

/**
 * Waits until `ready` resolves; if the process exits first or readiness never comes, the process
 * is stopped (nothing left behind holding a port) and the error says which.
 */
async function awaitReady(
  proc: ManagedProcess,
  what: string,
  ready: (signal: AbortSignal) => Promise<true>,
): Promise<void> {
  const controller = new AbortController();
  try {
    const outcome = await Promise.race([
      ready(controller.signal),
      proc.exited.then((code) => ({ exitedWith: code })),
    ]);
    if (outcome !== true) {
      const said = proc.outputTail().slice(-5).join(' | ');
      throw new Error(
        `${what}: the process exited (${JSON.stringify(outcome)}) before it was ready${said ? `; it printed: ${said}` : ''}`,
      );
    }
  } catch (error) {
    controller.abort();
    await proc.stop();
    throw error;
  }
  controller.abort();
}

export function waitForTcp(port: number, timeoutMs: number, signal?: AbortSignal): Promise<true> {
  return waitFor(
    `tcp 127.0.0.1:${port}`,
    () =>
      new Promise<true | undefined>((resolveProbe) => {
        const socket = new Socket();
        socket.once('connect', () => {
          socket.destroy();
          resolveProbe(true);
        });
        socket.once('error', () => resolveProbe(undefined));
        socket.connect(port, '127.0.0.1');
      }),
    timeoutMs,
    200,
    signal,
  );
}

/** The newest modification time (ms) of the files under `path`. */
function findNewestMtime(path: string): number {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, findNewestMtime(join(path, name))), 0);
}

/** Builds the web app into web/dist unless that build is newer than its sources (or `force`). */
export async function buildWeb(force = false): Promise<void> {
  if (!existsSync(join(ROOT, 'web', 'vite.config.ts'))) return;
  const built = statSync(join(ROOT, 'web', 'dist', 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = [
    'web/src',
    'web/public',
    'web/index.html',
    'web/vite.config.ts',
    'protocol',
    'package-lock.json',
  ];
  const newestSource = Math.max(...sources.map((source) => findNewestMtime(join(ROOT, source))));
  if (!force && built > newestSource) return;
  await runCommand(process.execPath, [VITE, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn']);
}

export async function applyMigrations(persistTo: string): Promise<void> {
  await runCommand(
    process.execPath,
    [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo],
    { CI: 'true' },
  );
}

export interface WorkerOptions {
  port: number;
  persistTo: string;
  secrets: { INGEST_SECRET: string; STREAM_KEY_SECRET: string; METRICS_TOKEN?: string };
  vars?: Record<string, string>;
  echo?: boolean;
  onLine?: (line: string) => void;
  /**
   * What `wrangler dev` prints: 'warn' (the default) hides the Worker's info lines (console.log),
   * 'log' shows them, e.g. to follow a publish's trace id (docs/operations.md).
   */
  logLevel?: 'warn' | 'log';
  /** The DevTools port of the Worker (a free one by default), e.g. to take a CPU profile. */
  inspectorPort?: number;
}

export async function startWorker(options: WorkerOptions): Promise<ManagedProcess> {
  const inspectorPort = options.inspectorPort ?? (await findFreePort());
  // Secrets go through a private env file, not the command line, where `ps` would show them; it
  // lives as long as the Worker (wrangler may read it again on a reload) and is removed after it.
  const secretsDir = mkdtempSync(join(tmpdir(), 'edgestream-secrets-'));
  const secretsFile = join(secretsDir, 'secrets.env');
  writeFileSync(
    secretsFile,
    Object.entries(options.secrets)
      .map(([key, value]) => `${key}=${value}\n`)
      .join(''),
    { mode: 0o600 },
  );
  const args = [
    WRANGLER,
    'dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--inspector-port',
    String(inspectorPort),
    '--persist-to',
    options.persistTo,
    '--enable-containers=false',
    '--test-scheduled',
    '--show-interactive-dev-session=false',
    '--log-level',
    options.logLevel ?? 'warn',
    '--env-file',
    secretsFile,
  ];
  for (const [key, value] of Object.entries(options.vars ?? {})) args.push('--var', `${key}:${value}`);
  const proc = spawnManaged('worker', process.execPath, args, {
    echo: options.echo ?? false,
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  void proc.exited.then(() => rmSync(secretsDir, { recursive: true, force: true }));
  await awaitReady(proc, `wrangler dev on :${options.port}`, (signal) =>
    waitFor(
      `wrangler dev on :${options.port}`,
      async () => {
        const res = await fetch(`http://127.0.0.1:${options.port}/api/v1/health`);
        await res.body?.cancel();
        return res.status < 500 ? true : undefined;
      },
      90_000,
      250,
      signal,
    ),
  );
  return proc;
}

export interface TranscoderOptions {
  rtmpPort: number;
  httpPort: number;
  originUrl: string;
  ingestSecret: string;
  env?: NodeJS.ProcessEnv;
  echo?: boolean;
  onLine?: (line: string) => void;
}

export async function startTranscoder(options: TranscoderOptions): Promise<ManagedProcess> {
  const proc = spawnManaged('transcoder', process.execPath, ['containers/transcoder/src/main.ts'], {
    env: {
      RTMP_PORT: String(options.rtmpPort),
      HTTP_PORT: String(options.httpPort),
      ORIGIN_URL: options.originUrl,
      INGEST_SECRET: options.ingestSecret,
      ...options.env,
    },
    echo: options.echo ?? false,
    ...(options.onLine ? { onLine: options.onLine } : {}),
  });
  await awaitReady(proc, `the transcoder on :${options.rtmpPort}`, (signal) =>
    waitForTcp(options.rtmpPort, 20_000, signal),
  );
  return proc;
}
