// Chat fan-out benchmark: edgestream (wrangler dev: Worker + ChatRoom + ChatShards) against a plain
// Node `ws` broadcast server on the same machine. For 1,000 and 5,000 sockets on one channel,
// 10 senders post 100 messages/s in total for a fixed window; every socket measures send-to-receive
// latency from the timestamp in the content. Prints a table and writes bench/results/chat.json.
//   node bench/chat/chat-bench.ts [--sockets 1000,5000] [--seconds 15]
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { findFreePort, ROOT, waitForTcp } from '../../scripts/lib/platform.ts';
import { startPlatform } from '../../test/e2e/harness.ts';

const SENDERS = 10;
const TOTAL_RATE = 100;
const CONNECT_CONCURRENCY = 50;
/** Each scenario stays under 60 s: connecting, the measured window, a short drain. */
const SCENARIO_BUDGET_MS = 60_000;

function readArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const SOCKET_COUNTS = readArg('sockets', '1000,5000').split(',').map(Number);
const MEASURE_MS = Number(readArg('seconds', '15')) * 1000;

interface ScenarioResult {
  target: 'edgestream' | 'node-ws';
  sockets: number;
  connected: number;
  connect_seconds: number;
  sent: number;
  expected_deliveries: number;
  delivered: number;
  delivered_per_second: number;
  p50_ms: number | null;
  p99_ms: number | null;
  sender_refusals: Record<string, number>;
}

interface Target {
  name: ScenarioResult['target'];
  receiverUrl: string;
  senderUrls: string[];
  /** The frame a sender sends, carrying the send time. */
  buildFrame(sentAt: number): string;
}

const CONTENT_TIME = /"content":"bench (\d+)"/;

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

function openSocket(url: string, deadline: number): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(
      () => {
        ws.terminate();
        resolve(null);
      },
      Math.max(1, deadline - Date.now()),
    );
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

async function runScenario(target: Target, sockets: number): Promise<ScenarioResult> {
  const started = Date.now();
  const connectDeadline = started + SCENARIO_BUDGET_MS - MEASURE_MS - 5_000;
  const latencies: number[] = [];
  let measuring = false;
  let delivered = 0;
  const receivers: WebSocket[] = [];
  for (let i = 0; i < sockets && Date.now() < connectDeadline; i += CONNECT_CONCURRENCY) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(CONNECT_CONCURRENCY, sockets - i) }, () =>
        openSocket(target.receiverUrl, connectDeadline),
      ),
    );
    for (const ws of batch) {
      if (!ws) continue;
      ws.on('message', (data) => {
        if (!measuring) return;
        const match = CONTENT_TIME.exec(String(data));
        if (!match) return;
        delivered++;
        latencies.push(Date.now() - Number(match[1]));
      });
      receivers.push(ws);
    }
  }
  const connectSeconds = (Date.now() - started) / 1000;
  const senders = (
    await Promise.all(target.senderUrls.map((url) => openSocket(url, Date.now() + 10_000)))
  ).filter((ws): ws is WebSocket => ws !== null);
  // Refusals reaching a sender (rate limits, floods) would make the figures meaningless: count them.
  const refusals = new Map<string, number>();
  for (const ws of senders) {
    ws.on('message', (data) => {
      const code = /"type":"error","code":"([a-z_]+)"/.exec(String(data))?.[1];
      if (code) refusals.set(code, (refusals.get(code) ?? 0) + 1);
    });
    ws.on('close', (code) => refusals.set(`closed_${code}`, (refusals.get(`closed_${code}`) ?? 0) + 1));
  }
  // Let joins settle (history, welcome frames) before the window opens.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  measuring = true;
  let sent = 0;
  const interval = 1000 / (TOTAL_RATE / Math.max(1, senders.length));
  const timers = senders.map((ws, i) =>
    setTimeout(
      () => {
        const tick = setInterval(() => {
          ws.send(target.buildFrame(Date.now()));
          sent++;
        }, interval);
        timers.push(tick);
      },
      (interval / senders.length) * i,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
  for (const timer of timers) clearTimeout(timer);
  for (const timer of timers) clearInterval(timer);
  // Messages sent near the end still count if they arrive within a short drain.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  measuring = false;
  for (const ws of [...receivers, ...senders]) ws.terminate();
  latencies.sort((a, b) => a - b);
  return {
    target: target.name,
    sockets,
    connected: receivers.length,
    connect_seconds: Number(connectSeconds.toFixed(1)),
    sent,
    expected_deliveries: sent * receivers.length,
    delivered,
    delivered_per_second: Math.round(delivered / (MEASURE_MS / 1000)),
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    sender_refusals: Object.fromEntries(refusals),
  };
}

interface SignupBody {
  token: string;
  user: { username: string };
  channel: { id: string };
}

function isSignupBody(value: unknown): value is SignupBody {
  return (
    typeof value === 'object' && value !== null && 'token' in value && 'user' in value && 'channel' in value
  );
}

let signups = 1;

async function signUp(baseUrl: string, username: string): Promise<SignupBody> {
  const res = await fetch(`${baseUrl}/api/v1/auth/signup`, {
    method: 'POST',
    // Signups are rate-limited per client IP; each bench user signs up from its own address.
    headers: {
      'Content-Type': 'application/json',
      'CF-Connecting-IP': `10.0.${signups >> 8}.${signups++ & 255}`,
    },
    body: JSON.stringify({ username, password: 'bench password 1' }),
  });
  const body: unknown = await res.json();
  if (res.status !== 201 || !isSignupBody(body)) throw new Error(`signup failed: ${res.status}`);
  return body;
}

/** The broadcaster and nine moderators: exempt from the per-user limit, so 100 msg/s get through. */
async function prepareEdgestream(baseUrl: string, port: number): Promise<Target> {
  const suffix = Date.now() % 1_000_000;
  const owner = await signUp(baseUrl, `benchowner${suffix}`);
  const mods = await Promise.all(
    Array.from({ length: SENDERS - 1 }, (_, i) => signUp(baseUrl, `benchmod${i}x${suffix}`)),
  );
  const wsBase = `ws://127.0.0.1:${port}/ws/${owner.channel.id}`;
  const control = await openSocket(`${wsBase}?token=${owner.token}`, Date.now() + 10_000);
  if (!control) throw new Error('cannot open the broadcaster socket');
  for (const mod of mods) {
    control.send(
      JSON.stringify({
        type: 'chat_message',
        channel_id: owner.channel.id,
        content: `/mod ${mod.user.username}`,
      }),
    );
    // Stay under the flood limit of 20 frames/s.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  control.terminate();
  return {
    name: 'edgestream',
    receiverUrl: wsBase,
    senderUrls: [owner, ...mods].map((user) => `${wsBase}?token=${user.token}`),
    buildFrame: (sentAt) =>
      JSON.stringify({ type: 'chat_message', channel_id: owner.channel.id, content: `bench ${sentAt}` }),
  };
}

function formatTable(results: ScenarioResult[]): string {
  const header = ['target', 'sockets', 'connected', 'sent', 'delivered/s', 'expected/s', 'p50 ms', 'p99 ms'];
  const rows = results.map((r) => [
    r.target,
    String(r.sockets),
    String(r.connected),
    String(r.sent),
    String(r.delivered_per_second),
    String(Math.round(r.expected_deliveries / (MEASURE_MS / 1000))),
    String(r.p50_ms ?? '-'),
    String(r.p99_ms ?? '-'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  return [header, ...rows]
    .map((row) => row.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  '))
    .join('\n');
}

async function main(): Promise<void> {
  const results: ScenarioResult[] = [];
  const platform = await startPlatform({ transcoder: false });
  try {
    const target = await prepareEdgestream(platform.baseUrl, platform.port);
    for (const sockets of SOCKET_COUNTS) {
      results.push(await runScenario(target, sockets));
      process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
    }
  } finally {
    // Worker errors during the run explain figures that look wrong.
    for (const line of platform.logs.filter((l) => /error/i.test(l)).slice(-10))
      process.stderr.write(`${line}\n`);
    await platform.stop();
  }
  const port = await findFreePort();
  const server = spawn(process.execPath, [join(ROOT, 'bench/chat/ws-broadcast-server.ts'), String(port)], {
    stdio: 'ignore',
  });
  try {
    await waitForTcp(port, 10_000);
    const url = `ws://127.0.0.1:${port}/`;
    const nodeTarget: Target = {
      name: 'node-ws',
      receiverUrl: url,
      senderUrls: Array.from({ length: SENDERS }, () => url),
      buildFrame: (sentAt) =>
        JSON.stringify({ type: 'chat_message', channel_id: 'bench', content: `bench ${sentAt}` }),
    };
    for (const sockets of SOCKET_COUNTS) {
      results.push(await runScenario(nodeTarget, sockets));
      process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
    }
  } finally {
    server.kill('SIGTERM');
  }
  const ratios = SOCKET_COUNTS.map((sockets) => {
    const edge = results.find((r) => r.target === 'edgestream' && r.sockets === sockets);
    const node = results.find((r) => r.target === 'node-ws' && r.sockets === sockets);
    return {
      sockets,
      delivered_ratio:
        edge && node && node.delivered_per_second > 0
          ? Number((edge.delivered_per_second / node.delivered_per_second).toFixed(2))
          : null,
      p99_ratio: edge?.p99_ms && node?.p99_ms ? Number((edge.p99_ms / node.p99_ms).toFixed(2)) : null,
    };
  });
  process.stdout.write(`\n${formatTable(results)}\n\nedgestream / node-ws: ${JSON.stringify(ratios)}\n`);
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  await writeFile(
    join(ROOT, 'bench/results/chat.json'),
    `${JSON.stringify({ measured_at: new Date().toISOString(), senders: SENDERS, total_rate: TOTAL_RATE, window_seconds: MEASURE_MS / 1000, results, ratios }, null, 2)}\n`,
  );
}

await main();
