// One chat fan-out scenario, shared by bench/chat/chat-bench.ts (edgestream against a Node ws
// server) and bench/chat/chat-hostile.ts (the same load with attackers beside it): receivers in
// child processes (chat-receivers.ts) join one channel, 10 senders post 100 messages/s in total
// for a measured window, and every delivery's send-to-receive latency lands in a histogram.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { ROOT } from '../../scripts/lib/platform.ts';
import { HISTOGRAM_MAX_MS, openSocket, type ReceiverCommand, ReceiverReply } from './chat-receivers.ts';

export const SENDERS = 10;
export const TOTAL_RATE = 100;
const CONNECT_CONCURRENCY = 50;
/** Each scenario stays under 60 s: connecting, the measured window, a short drain. */
const SCENARIO_BUDGET_MS = 60_000;

export interface ScenarioResult {
  target: string;
  sockets: number;
  connected: number;
  connect_seconds: number;
  sent: number;
  expected_deliveries: number;
  delivered: number;
  delivered_per_second: number;
  /** WebSocket messages received per second, all sockets: the rate the server sends at. */
  ws_messages_per_second: number;
  /** Receivers that got nothing in the window, and receivers the server closed: lost, not slow. */
  silent_sockets: number;
  closed_sockets: number;
  p50_ms: number | null;
  p99_ms: number | null;
  sender_refusals: Record<string, number>;
  receiver_processes: number;
  /**
   * The worst latency of the messages sent in each half-second of the window (null: none sent in
   * it, as the first may be): where a p99 comes from.
   */
  worst_ms_by_half_second: (number | null)[];
}

export interface Target {
  name: string;
  receiverUrl: string;
  senderUrls: string[];
  /** The frame a sender sends, carrying the send time. */
  buildFrame(sentAt: number): string;
}

/** The latency below which `p` percent of deliveries fall, from a 1 ms histogram. */
function readPercentile(histogram: Uint32Array, total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.min(total, Math.floor((p / 100) * total) + 1);
  let seen = 0;
  for (let ms = 0; ms < histogram.length; ms++) {
    seen += histogram[ms] ?? 0;
    if (seen >= rank) return ms;
  }
  return HISTOGRAM_MAX_MS;
}

/** A receiver child process and the replies it has sent, in order. */
interface Receiver {
  child: ChildProcess;
  request(command: ReceiverCommand, kind: ReceiverReply['kind'], timeoutMs: number): Promise<ReceiverReply>;
  tell(command: ReceiverCommand): void;
}

function startReceiver(): Receiver {
  const child = spawn(process.execPath, [join(ROOT, 'bench/chat/chat-receivers.ts'), '--receiver'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting: { kind: ReceiverReply['kind']; resolve(reply: ReceiverReply): void }[] = [];
  child.on('message', (raw: unknown) => {
    const parsed = ReceiverReply.safeParse(raw);
    if (!parsed.success) return;
    const index = waiting.findIndex((w) => w.kind === parsed.data.kind);
    if (index >= 0) waiting.splice(index, 1)[0]?.resolve(parsed.data);
  });
  return {
    child,
    tell: (command) => {
      child.send(command);
    },
    request: (command, kind, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver gave no ${kind} reply`)), timeoutMs);
        waiting.push({
          kind,
          resolve: (reply) => {
            clearTimeout(timer);
            resolve(reply);
          },
        });
        child.send(command);
      }),
  };
}

/** One measured window: senders at TOTAL_RATE for `measureMs`, with what runs beside it. */
export interface WindowOptions {
  /**
   * Load started once the receivers have joined and stopped after the measured window (the
   * hostile bench's attackers); its stop function returns what it counted.
   */
  background?: () => Promise<() => Promise<Record<string, number>>>;
  /** Called as the measured window opens, and its result as it closes (a CPU profile of it). */
  onWindow?: () => Promise<() => Promise<void>>;
}

export interface ScenarioOptions extends WindowOptions {
  measureMs: number;
  receiverProcesses: number;
}

export type WindowResult = ScenarioResult & { background: Record<string, number> };

/** One window on freshly connected receivers (chat-bench.ts's rows). */
export async function runScenario(
  target: Target,
  sockets: number,
  options: ScenarioOptions,
): Promise<WindowResult> {
  const [result] = await runWindows(target, sockets, options, [options]);
  if (result === undefined) throw new Error('no window was measured');
  return result;
}

/**
 * Connects the receivers once, then measures each window in turn on the same sockets, so windows
 * compare like with like (chat-hostile.ts: quiet, then under attack): a second set of receivers
 * would meet the first set's leftovers (their seats' releases, their limiters' cleanup alarms).
 */
export async function runWindows(
  target: Target,
  sockets: number,
  options: { measureMs: number; receiverProcesses: number; warmupMs?: number },
  windows: readonly WindowOptions[],
): Promise<WindowResult[]> {
  const MEASURE_MS = options.measureMs;
  const RECEIVER_PROCESSES = options.receiverProcesses;
  const started = Date.now();
  const connectDeadline = started + SCENARIO_BUDGET_MS - MEASURE_MS - 5_000;
  const receivers = Array.from({ length: RECEIVER_PROCESSES }, () => startReceiver());
  const senders: WebSocket[] = [];
  try {
    const shares = receivers.map(
      (_, i) => Math.floor(sockets / receivers.length) + (i < sockets % receivers.length ? 1 : 0),
    );
    const connectedReplies = await Promise.all(
      receivers.map((receiver, i) =>
        receiver.request(
          {
            cmd: 'connect',
            url: target.receiverUrl,
            count: shares[i] ?? 0,
            deadline: connectDeadline,
            concurrency: CONNECT_CONCURRENCY,
          },
          'connected',
          SCENARIO_BUDGET_MS,
        ),
      ),
    );
    const connected = connectedReplies.reduce((n, r) => n + (r.kind === 'connected' ? r.connected : 0), 0);
    const connectSeconds = (Date.now() - started) / 1000;
    senders.push(
      ...(await Promise.all(target.senderUrls.map((url) => openSocket(url, Date.now() + 10_000)))).filter(
        (ws): ws is WebSocket => ws !== null,
      ),
    );
    // Refusals reaching a sender (rate limits, floods) would make the figures meaningless: count them.
    let refusals = new Map<string, number>();
    for (const ws of senders) {
      ws.on('message', (data) => {
        const code = /"type":"error","code":"([a-z_]+)"/.exec(String(data))?.[1];
        if (code) refusals.set(code, (refusals.get(code) ?? 0) + 1);
      });
      ws.on('close', (code) => refusals.set(`closed_${code}`, (refusals.get(`closed_${code}`) ?? 0) + 1));
    }
    // The senders post at TOTAL_RATE, spread evenly over each interval, for `ms`; resolves how many.
    const post = async (ms: number): Promise<number> => {
      let sent = 0;
      const interval = 1000 / (TOTAL_RATE / Math.max(1, senders.length));
      const timers = senders.map((ws, i) =>
        setTimeout(
          () => {
            const tick = setInterval(() => {
              if (ws.readyState !== ws.OPEN) return;
              ws.send(target.buildFrame(Date.now()));
              sent++;
            }, interval);
            timers.push(tick);
          },
          (interval / senders.length) * i,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, ms));
      for (const timer of timers) clearTimeout(timer);
      for (const timer of timers) clearInterval(timer);
      return sent;
    };
    // Let joins settle (history, welcome frames), then post unmeasured for a while: the first
    // window must not pay for the server's warm-up (compiled code, batch sizes) alone.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (options.warmupMs) await post(options.warmupMs);
    const results: WindowResult[] = [];
    for (const window of windows) {
      refusals = new Map();
      const stopBackground = window.background ? await window.background() : null;
      for (const receiver of receivers) receiver.tell({ cmd: 'measure', on: true });
      const closeWindow = window.onWindow ? await window.onWindow() : null;
      const windowStartHalf = Math.floor(Date.now() / 500);
      const sent = await post(MEASURE_MS);
      await closeWindow?.();
      // Messages sent near the end still count if they arrive within a short drain.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const receiver of receivers) receiver.tell({ cmd: 'measure', on: false });
      const background = stopBackground ? await stopBackground() : {};
      const senderRefusals = Object.fromEntries(refusals);
      const reports = await Promise.all(receivers.map((r) => r.request({ cmd: 'report' }, 'report', 30_000)));
      const histogram = new Uint32Array(HISTOGRAM_MAX_MS + 1);
      let delivered = 0;
      let messages = 0;
      let silent = 0;
      let closed = 0;
      const worst: (number | null)[] = Array.from({ length: Math.ceil(MEASURE_MS / 500) }, () => null);
      for (const report of reports) {
        if (report.kind !== 'report') continue;
        for (const [half, ms] of report.worst) {
          const index = half - windowStartHalf;
          if (index >= 0 && index < worst.length) worst[index] = Math.max(worst[index] ?? 0, ms);
        }
        delivered += report.delivered;
        messages += report.messages;
        silent += report.silent;
        closed += report.closed;
        for (const [ms, count] of report.histogram) histogram[ms] = (histogram[ms] ?? 0) + count;
      }
      results.push({
        target: target.name,
        sockets,
        connected,
        connect_seconds: Number(connectSeconds.toFixed(1)),
        sent,
        expected_deliveries: sent * connected,
        delivered,
        delivered_per_second: Math.round(delivered / (MEASURE_MS / 1000)),
        ws_messages_per_second: Math.round(messages / (MEASURE_MS / 1000)),
        silent_sockets: silent,
        closed_sockets: closed,
        p50_ms: readPercentile(histogram, delivered, 50),
        p99_ms: readPercentile(histogram, delivered, 99),
        sender_refusals: senderRefusals,
        receiver_processes: receivers.length,
        worst_ms_by_half_second: worst,
        background,
      });
    }
    return results;
  } finally {
    for (const ws of senders) ws.terminate();
    for (const receiver of receivers) {
      if (receiver.child.connected) receiver.tell({ cmd: 'close' });
      setTimeout(() => {
        if (receiver.child.exitCode === null) receiver.child.kill('SIGKILL');
      }, 2000).unref();
    }
  }
}

export interface SignupBody {
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

export async function signUp(baseUrl: string, username: string): Promise<SignupBody> {
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

/**
 * The broadcaster and moderators as senders: their elevated chat rate (100 messages per 30 s each,
 * durable-objects/chat-shard/flood-control.ts) lets SENDERS of them post 100 msg/s for one 15 s
 * window from a full bucket; windows back to back on the same senders need 40 of them (2.5 msg/s
 * each, under the sustained 3.3).
 */
export async function prepareEdgestream(baseUrl: string, port: number, senders = SENDERS): Promise<Target> {
  const suffix = Date.now() % 1_000_000;
  const owner = await signUp(baseUrl, `benchowner${suffix}`);
  const mods = await Promise.all(
    Array.from({ length: senders - 1 }, (_, i) => signUp(baseUrl, `benchmod${i}x${suffix}`)),
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
