// One share of bench/chat's receiving sockets, in a process of its own: at 5,000 sockets the
// receivers parse ~50k WebSocket messages a second, which one Node event loop cannot do while also
// timing them fairly. Driven over IPC by chat-bench.ts; keeps a 1 ms latency histogram instead of
// every sample so reports stay small and merge by addition.
//   node bench/chat/chat-receivers.ts --receiver   (spawned by chat-bench.ts with an IPC channel)
import WebSocket from 'ws';
import { z } from 'zod';

/** Latencies above this land in the last bucket; a scenario never runs longer. */
export const HISTOGRAM_MAX_MS = 60_000;

export const ReceiverCommand = z.discriminatedUnion('cmd', [
  z.object({
    cmd: z.literal('connect'),
    url: z.string(),
    count: z.number().int().nonnegative(),
    deadline: z.number(),
    concurrency: z.number().int().positive(),
  }),
  z.object({ cmd: z.literal('measure'), on: z.boolean() }),
  z.object({ cmd: z.literal('report') }),
  z.object({ cmd: z.literal('close') }),
]);
export type ReceiverCommand = z.infer<typeof ReceiverCommand>;

export const ReceiverReply = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('connected'), connected: z.number().int() }),
  z.object({
    kind: z.literal('report'),
    delivered: z.number().int(),
    messages: z.number().int(),
    /** Sockets that received nothing while measuring, and sockets the server closed. */
    silent: z.number().int(),
    closed: z.number().int(),
    /** [latency ms, count] for every non-empty bucket. */
    histogram: z.array(z.tuple([z.number().int(), z.number().int()])),
    /** [send time in ms / 500, the worst latency of a message sent in that half-second]. */
    worst: z.array(z.tuple([z.number().int(), z.number().int()])),
  }),
]);
export type ReceiverReply = z.infer<typeof ReceiverReply>;

/** Where the send time sits in a chat message sent by the bench: `"content":"bench <ms>"`. */
const MARKER = '"content":"bench ';

/**
 * Every send time in one WebSocket message, found by scanning for the marker: a batch carries
 * several chat messages and JSON.parse of each would cost more than the fan-out being measured.
 */
export function readSendTimes(text: string): number[] {
  const times: number[] = [];
  for (let at = text.indexOf(MARKER); at >= 0; at = text.indexOf(MARKER, at + MARKER.length)) {
    const start = at + MARKER.length;
    const end = text.indexOf('"', start);
    const value = Number(text.slice(start, end));
    if (end > start && Number.isFinite(value)) times.push(value);
  }
  return times;
}

/**
 * Viewers come from many networks: the Worker caps anonymous sockets per network (docs/security.md),
 * so each receiver claims an address of its own in 10.0.0.0/8 (wrangler dev passes the header on).
 */
export function pickViewerAddress(): string {
  const n = Math.floor(Math.random() * 0xffffff);
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** Opens a WebSocket, or null if it is not open by `deadline` (epoch ms). */
export function openSocket(
  url: string,
  deadline: number,
  headers: Record<string, string> = {},
): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    // A sender's URL names its token as ?token=; it travels as the "bearer.<token>" subprotocol,
    // since the Worker refuses tokens in URLs (workers/chat/index.ts).
    const target = new URL(url);
    const token = target.searchParams.get('token');
    target.searchParams.delete('token');
    const ws = new WebSocket(target.toString(), token === null ? [] : ['chat', `bearer.${token}`], {
      perMessageDeflate: false,
      headers,
    });
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

function runReceiver(): void {
  const histogram = new Uint32Array(HISTOGRAM_MAX_MS + 1);
  const sockets: WebSocket[] = [];
  let measuring = false;
  let delivered = 0;
  let messages = 0;
  const reply = (message: ReceiverReply) => process.send?.(message);

  let heard = new WeakSet<WebSocket>();
  let worst = new Map<number, number>();
  let closed = 0;
  const onMessage = (ws: WebSocket, data: WebSocket.RawData) => {
    if (!measuring) return;
    const now = Date.now();
    messages++;
    heard.add(ws);
    for (const sentAt of readSendTimes(String(data))) {
      delivered++;
      const latency = Math.max(0, now - sentAt);
      const bucket = Math.min(HISTOGRAM_MAX_MS, latency);
      histogram[bucket] = (histogram[bucket] ?? 0) + 1;
      const half = Math.floor(sentAt / 500);
      if (latency > (worst.get(half) ?? -1)) worst.set(half, latency);
    }
  };

  const connect = async (command: Extract<ReceiverCommand, { cmd: 'connect' }>) => {
    for (let i = 0; i < command.count && Date.now() < command.deadline; i += command.concurrency) {
      const opened = await Promise.all(
        Array.from({ length: Math.min(command.concurrency, command.count - i) }, () =>
          openSocket(command.url, command.deadline, { 'CF-Connecting-IP': pickViewerAddress() }),
        ),
      );
      for (const ws of opened) {
        if (!ws) continue;
        ws.on('message', (data) => onMessage(ws, data));
        ws.once('close', () => {
          closed++;
        });
        sockets.push(ws);
      }
    }
    reply({ kind: 'connected', connected: sockets.length });
  };

  process.on('message', (raw: unknown) => {
    const parsed = ReceiverCommand.safeParse(raw);
    if (!parsed.success) return;
    const command = parsed.data;
    switch (command.cmd) {
      case 'connect':
        connect(command).catch((error: unknown) => {
          process.stderr.write(`receiver connect failed: ${String(error)}\n`);
          reply({ kind: 'connected', connected: sockets.length });
        });
        return;
      case 'measure':
        // Each window is counted on its own: opening one starts from nothing.
        if (command.on && !measuring) {
          histogram.fill(0);
          delivered = 0;
          messages = 0;
          closed = 0;
          heard = new WeakSet<WebSocket>();
          worst = new Map();
        }
        measuring = command.on;
        return;
      case 'report': {
        const buckets: [number, number][] = [];
        histogram.forEach((count, ms) => {
          if (count > 0) buckets.push([ms, count]);
        });
        const silent = sockets.filter((ws) => !heard.has(ws)).length;
        reply({ kind: 'report', delivered, messages, silent, closed, histogram: buckets, worst: [...worst] });
        return;
      }
      case 'close':
        for (const ws of sockets) ws.terminate();
        process.disconnect();
        return;
    }
  });
}

// The parent imports the schemas above; only a process spawned as a receiver runs one.
if (process.argv.includes('--receiver')) runReceiver();
