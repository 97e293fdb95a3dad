// Starts a whole platform for an end-to-end test: `wrangler dev` on a free port with its own
// state directory, and (optionally) the transcoder with its own RTMP port, both on loopback.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyMigrations,
  findFreePort,
  type ManagedProcess,
  ROOT,
  runCommand,
  startTranscoder,
  startWorker,
} from '../../scripts/lib/platform.ts';

export interface Platform {
  /** http://127.0.0.1:PORT — the web app, the API under /api/v1, playback under /live. */
  readonly baseUrl: string;
  readonly port: number;
  /** rtmp://127.0.0.1:PORT/live — publish with the stream key as the stream name. */
  readonly rtmpUrl: string;
  readonly rtmpPort: number;
  readonly ingestSecret: string;
  /** The transcoder's health and figures port (GET /healthz, GET /stats). */
  readonly transcoderUrl: string;
  /** Output lines of the worker and transcoder, for diagnosing a failed test. */
  readonly logs: string[];
  /**
   * Their lines that name a trace id, parsed, with the process that wrote them (kept apart from
   * `logs`, whose request lines would push a long publish's first lines out).
   */
  readonly traceLines: Array<{ process: 'worker' | 'transcoder'; line: Record<string, unknown> }>;
  /**
   * Sets a channel's tier in the local D1 (there is no API for tiers: an operator's call), so a
   * test can get the partner ladder.
   */
  setChannelTier(channelId: string, tier: 'none' | 'affiliate' | 'partner'): Promise<void>;
  /**
   * Marks a started (pending) stream live in the local D1 with a viewer count, as the LiveStream
   * object does on the first part: lists and recommendations without a transcoder.
   */
  markStreamLive(streamId: string, viewers: number): Promise<void>;
  stopTranscoder(): Promise<void>;
  startTranscoder(): Promise<void>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  transcoder?: boolean;
  /** Extra Worker vars (e.g. a short RECONNECT_WINDOW_SECONDS). */
  vars?: Record<string, string>;
  transcoderEnv?: NodeJS.ProcessEnv;
  echo?: boolean;
  /** 'log' prints the Worker's info lines too (they carry the trace ids); default 'warn'. */
  workerLogLevel?: 'warn' | 'log';
  /** The Worker's DevTools port (bench/lib/profile.ts takes CPU profiles through it). */
  inspectorPort?: number;
  /** Where the platform's state folder is made (D1, R2, the objects' SQLite); the OS temp dir by default. */
  stateRoot?: string;
}

const MAX_TRACE_LINES = 10_000;

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const stateDir = await mkdtemp(join(options.stateRoot ?? tmpdir(), 'edgestream-e2e-'));
  const port = await findFreePort();
  const rtmpPort = await findFreePort();
  const httpPort = await findFreePort();
  const ingestSecret = `e2e-ingest-${crypto.randomUUID()}`;
  const logs: string[] = [];
  const traceLines: Platform['traceLines'] = [];
  const keep = (prefix: 'worker' | 'transcoder') => (line: string) => {
    logs.push(`[${prefix}] ${line}`);
    if (logs.length > 2000) logs.splice(0, logs.length - 2000);
    const json = line.indexOf('{"');
    if (json < 0 || !line.includes('"trace_id"') || traceLines.length >= MAX_TRACE_LINES) return;
    try {
      traceLines.push({ process: prefix, line: JSON.parse(line.slice(json)) as Record<string, unknown> });
    } catch {
      // Not one whole JSON line: nothing to follow.
    }
  };
  const echo = options.echo ?? process.env.E2E_ECHO === '1';
  await applyMigrations(stateDir);
  const worker = await startWorker({
    port,
    persistTo: stateDir,
    secrets: { INGEST_SECRET: ingestSecret, STREAM_KEY_SECRET: `e2e-keys-${crypto.randomUUID()}` },
    vars: { RTMP_INGEST_URL: `rtmp://127.0.0.1:${rtmpPort}/live`, ...options.vars },
    ...(options.workerLogLevel === undefined ? {} : { logLevel: options.workerLogLevel }),
    ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
    echo,
    onLine: keep('worker'),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  let transcoder: ManagedProcess | undefined;
  const launchTranscoder = async () => {
    transcoder = await startTranscoder({
      rtmpPort,
      httpPort,
      originUrl: baseUrl,
      ingestSecret,
      env: options.transcoderEnv ?? {},
      echo,
      onLine: keep('transcoder'),
    });
  };
  try {
    if (options.transcoder) await launchTranscoder();
  } catch (error) {
    await worker.stop();
    throw error;
  }
  return {
    baseUrl,
    port,
    rtmpUrl: `rtmp://127.0.0.1:${rtmpPort}/live`,
    rtmpPort,
    ingestSecret,
    transcoderUrl: `http://127.0.0.1:${httpPort}`,
    logs,
    traceLines,
    startTranscoder: launchTranscoder,
    setChannelTier: async (channelId, tier) => {
      if (!/^[0-9a-f-]{36}$/.test(channelId)) throw new Error(`not a channel id: ${channelId}`);
      await runCommand(process.execPath, [
        join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
        ...['d1', 'execute', 'DB', '--local', '--persist-to', stateDir],
        ...['--command', `UPDATE channels SET tier = '${tier}' WHERE id = '${channelId}'`],
      ]);
    },
    markStreamLive: async (streamId, viewers) => {
      if (!/^[0-9a-f-]{36}$/.test(streamId)) throw new Error(`not a stream id: ${streamId}`);
      const count = Math.max(0, Math.trunc(viewers));
      await runCommand(process.execPath, [
        join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
        ...['d1', 'execute', 'DB', '--local', '--persist-to', stateDir],
        ...[
          '--command',
          `UPDATE streams SET status = 'live', started_at = ${Date.now()}, viewer_count = ${count} WHERE id = '${streamId}'`,
        ],
      ]);
    },
    stopTranscoder: async () => {
      await transcoder?.stop();
      transcoder = undefined;
    },
    stop: async () => {
      await Promise.all([transcoder?.stop(), worker.stop()]);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
