// `npm start`: the whole platform on this machine. The Worker runs under `wrangler dev` with local
// D1, R2, Durable Objects and Queues persisted in .wrangler/state; the transcoder runs as a Node
// process beside it. Ctrl-C stops both. `npm start -- --nodes 3` runs an ingest fleet instead: three
// transcoder nodes behind HAProxy as the front address (scripts/lib/fleet.ts, docs/deploy.md).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalFleet } from './lib/fleet.ts';
import { ensureLocalCertificate } from './lib/local-cert.ts';
import {
  applyMigrations,
  buildWeb,
  type ManagedProcess,
  ROOT,
  startTranscoder,
  startWorker,
  stopAllManaged,
} from './lib/platform.ts';

const PORT = Number(process.env.PORT ?? 8787);
const RTMP_PORT = Number(process.env.RTMP_PORT ?? 1935);
const RTMPS_PORT = Number(process.env.RTMPS_PORT ?? 1936);
const TRANSCODER_HTTP_PORT = Number(process.env.TRANSCODER_HTTP_PORT ?? 8788);
const STATE_DIR = join(ROOT, '.wrangler', 'state');
const BACKUP_RTMP_PORT = Number(process.env.BACKUP_RTMP_PORT ?? 1945);

/** `--nodes N` (or `--nodes=N`): how many fleet nodes; null for the one plain transcoder. */
function readNodeCount(argv: readonly string[]): number | null {
  const index = argv.findIndex((arg) => arg === '--nodes' || arg.startsWith('--nodes='));
  if (index === -1) return null;
  const arg = argv[index] ?? '';
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[index + 1];
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new Error('--nodes takes a whole number, e.g. --nodes 3');
  return count;
}

/** Local secrets live in .dev.vars (git-ignored) so stream keys stay the same across restarts. */
function loadLocalSecrets(): { INGEST_SECRET: string; STREAM_KEY_SECRET: string; METRICS_TOKEN: string } {
  const path = join(ROOT, '.dev.vars');
  const vars = new Map<string, string>();
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const match = /^\s*([A-Z_]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
      if (match?.[1] && match[2] !== undefined) vars.set(match[1], match[2]);
    }
  }
  let changed = false;
  for (const name of ['INGEST_SECRET', 'STREAM_KEY_SECRET', 'METRICS_TOKEN']) {
    if (!vars.get(name)) {
      vars.set(name, randomBytes(32).toString('base64url'));
      changed = true;
    }
  }
  if (changed) {
    writeFileSync(path, `${[...vars].map(([k, v]) => `${k}="${v}"`).join('\n')}\n`, { mode: 0o600 });
  }
  return {
    INGEST_SECRET: vars.get('INGEST_SECRET') ?? '',
    STREAM_KEY_SECRET: vars.get('STREAM_KEY_SECRET') ?? '',
    METRICS_TOKEN: vars.get('METRICS_TOKEN') ?? '',
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const nodeCount = readNodeCount(process.argv.slice(2));
  const secrets = loadLocalSecrets();
  console.log('[start] building the web app');
  await buildWeb();
  console.log('[start] applying the D1 schema to .wrangler/state');
  await applyMigrations(STATE_DIR);
  const running: ManagedProcess[] = [];
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log('\n[start] stopping');
    // Everything started so far, including a Worker still starting up when Ctrl-C came.
    await stopAllManaged();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  console.log('[start] starting the Worker (wrangler dev)');
  const worker = await startWorker({
    port: PORT,
    persistTo: STATE_DIR,
    secrets,
    // The local column of wrangler.toml's LIMITS: test accounts sign up freely; logins stay throttled.
    vars: {
      RTMP_INGEST_URL: `rtmp://localhost:${RTMP_PORT}/live`,
      RTMPS_INGEST_URL: `rtmps://localhost:${RTMPS_PORT}/live`,
      // A fleet has a second front address; one transcoder has only itself. `?backup=1` marks a
      // dual publish's second connection (docs/deploy.md, "Dual publish").
      BACKUP_RTMP_INGEST_URL: `rtmp://localhost:${nodeCount === null ? RTMP_PORT : BACKUP_RTMP_PORT}/live?backup=1`,
      LIMITS_PROFILE: 'local',
    },
    // `WORKER_LOG_LEVEL=log npm start` prints the Worker's info lines too, e.g. to follow a
    // publish's trace id across both processes (docs/operations.md).
    ...(process.env.WORKER_LOG_LEVEL === 'log' ? { logLevel: 'log' as const } : {}),
    echo: true,
  });
  running.push(worker);
  // RTMPS with the operator's certificate when RTMPS_CERT_PATH/RTMPS_KEY_PATH are set, else a
  // self-signed one for localhost kept in .wrangler/rtmps (docs/security.md).
  const tls =
    process.env.RTMPS_CERT_PATH && process.env.RTMPS_KEY_PATH
      ? { certPath: process.env.RTMPS_CERT_PATH, keyPath: process.env.RTMPS_KEY_PATH, generated: false }
      : await ensureLocalCertificate(join(ROOT, '.wrangler', 'rtmps'));
  if (tls.generated) console.log(`[start] generated a self-signed RTMPS certificate: ${tls.certPath}`);
  if (nodeCount === null) {
    console.log('[start] starting the transcoder');
    const transcoder = await startTranscoder({
      rtmpPort: RTMP_PORT,
      httpPort: TRANSCODER_HTTP_PORT,
      originUrl: `http://127.0.0.1:${PORT}`,
      ingestSecret: secrets.INGEST_SECRET,
      env: {
        RTMPS_PORT: String(RTMPS_PORT),
        RTMPS_CERT_PATH: tls.certPath,
        RTMPS_KEY_PATH: tls.keyPath,
        // WHIP for the dashboard's "Go live from the browser" (docs/webrtc.md): wrangler.toml's
        // WHIP_INGEST_URL points at this port.
        WHIP_PORT: '8889',
        WHIP_ICE_PORT: '8189',
        // SRT ingest (docs/srt.md): wrangler.toml's SRT_INGEST_URL points at this UDP port.
        SRT_PORT: '8890',
      },
      echo: true,
    });
    running.push(transcoder);
  } else {
    console.log(`[start] starting ${nodeCount} transcoder nodes behind HAProxy`);
    const fleet = await startLocalFleet({
      nodes: nodeCount,
      front: { rtmp: RTMP_PORT, rtmps: RTMPS_PORT, backupRtmp: BACKUP_RTMP_PORT },
      originUrl: `http://127.0.0.1:${PORT}`,
      ingestSecret: secrets.INGEST_SECRET,
      stateDir: join(ROOT, '.wrangler', 'fleet'),
      // Ctrl-C: a local node drains for 3 s at most (a deployment's default is an hour).
      env: { RTMPS_CERT_PATH: tls.certPath, RTMPS_KEY_PATH: tls.keyPath, DRAIN_DEADLINE_SECONDS: '3' },
      echo: true,
    });
    running.push(...fleet.nodes.map((node) => node.process), fleet.haproxy);
    for (const node of fleet.nodes)
      console.log(
        `[start] ${node.nodeId}: rtmp 127.0.0.1:${node.rtmpPort}, health http://127.0.0.1:${node.httpPort}/healthz`,
      );
  }
  for (const proc of running) {
    void proc.exited.then((code) => {
      if (!shuttingDown) {
        console.error(`[start] ${proc.name} exited (${code}); stopping the rest`);
        void shutdown(1);
      }
    });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`
  edgestream is running (ready in ${seconds} s)

    Web app      http://localhost:${PORT}
    API          http://localhost:${PORT}/api/v1   (OpenAPI: /api/v1/openapi.json)
    RTMP ingest  rtmp://localhost:${RTMP_PORT}/live   (stream key = stream name)${nodeCount === null ? '' : `\n    Backup       rtmp://localhost:${BACKUP_RTMP_PORT}/live   (${nodeCount} nodes behind HAProxy)`}
    RTMPS ingest rtmps://localhost:${RTMPS_PORT}/live  (certificate: ${tls.certPath})
    Playback     http://localhost:${PORT}/live/<channel_id>/master.m3u8
    Metrics      http://localhost:${PORT}/metrics (Bearer METRICS_TOKEN from .dev.vars), transcoder :${TRANSCODER_HTTP_PORT}/metrics

  Try it: in another terminal run \`npm run demo\` to go live with a test pattern.
  Press Ctrl-C to stop.
`);
}

main().catch(async (error: unknown) => {
  console.error(`[start] ${error instanceof Error ? error.message : String(error)}`);
  await stopAllManaged();
  process.exit(1);
});
