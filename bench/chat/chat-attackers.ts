// The attackers of chat-hostile.ts, in a process of their own: 200 hostile sockets flooding one
// channel (the mix is described there), reconnecting whenever the server closes them. A process of
// their own so its CPU priority can be set apart from the receivers being measured (`priority:
// 'low'` runs it under nice 19). The frames sent are reported, so a weaker attack shows.
//   node bench/chat/chat-attackers.ts --attacker   (spawned by chat-hostile.ts with an IPC channel)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { z } from 'zod';
import { pickViewerAddress } from './chat-receivers.ts';

export const HOSTILE_IRC = 100;
export const HOSTILE_JSON_ANONYMOUS = 50;
export const HOSTILE_JSON_SIGNED_IN = 50;
export const HOSTILE_ACCOUNTS = 5;
const ATTACKER_ADDRESSES = ['203.0.113.7', '203.0.113.8'];

const AttackPlan = z.object({
  cmd: z.literal('start'),
  wsBase: z.string(),
  channelId: z.string(),
  tokens: z.array(z.string()),
  mode: z.enum(['honor', 'ignore']),
  /** Which of the three kinds attack (all by default): to tell which one costs the receivers. */
  kinds: z.array(z.enum(['irc', 'anonymous', 'signed-in'])).default(['irc', 'anonymous', 'signed-in']),
});
type AttackPlan = z.infer<typeof AttackPlan>;
const StopCommand = z.object({ cmd: z.literal('stop') });
/** The attackers' process has loaded and waits for its plan: spawning it is not part of the attack. */
const ReadyReply = z.object({ kind: z.literal('ready') });
const CountsReply = z.object({
  kind: z.literal('counts'),
  connects: z.number(),
  refused: z.number(),
  closed_by_server: z.number(),
  frames: z.number(),
});

export interface HostileCounts {
  connects: number;
  refused: number;
  closed_by_server: number;
  frames: number;
}

/**
 * How attackers treat a 429: `honor` waits the Retry-After the server sent (200 hostile sockets, as
 * the figure is stated); `ignore` retries 200 ms later whatever it said, a connection flood
 * of about a thousand upgrades a second that the edge's rate-limiting rule is for (docs/deploy.md).
 */
export type RetryMode = 'honor' | 'ignore';

/** Opens a socket or resolves null (refused, failed, or not open within 5 s). */
function connect(
  url: string,
  protocols: string[],
  address: string,
  counts: HostileCounts,
  refusal: { retryAfterMs: number },
): Promise<WebSocket | null> {
  counts.connects++;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, {
      headers: { 'CF-Connecting-IP': address },
      perMessageDeflate: false,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      resolve(null);
    }, 5_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      counts.refused++;
      const seconds = Number(response.headers['retry-after'] ?? '0');
      refusal.retryAfterMs = Number.isFinite(seconds) ? Math.min(seconds, 300) * 1000 : 0;
      resolve(null);
    });
    ws.once('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

/**
 * Runs one attacker until `stopped()`: connect, flood until closed, reconnect at once; after a
 * refusal, 200 ms later or (mode `honor`) once the Retry-After has passed (in slices, so it stops).
 */
async function attack(
  open: (refusal: { retryAfterMs: number }) => Promise<WebSocket | null>,
  flood: (ws: WebSocket) => void,
  stopped: () => boolean,
  counts: HostileCounts,
  mode: RetryMode,
): Promise<void> {
  while (!stopped()) {
    const refusal = { retryAfterMs: 0 };
    const ws = await open(refusal);
    if (!ws) {
      const waitUntil = Date.now() + (mode === 'honor' ? Math.max(200, refusal.retryAfterMs) : 200);
      while (!stopped() && Date.now() < waitUntil) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, waitUntil - Date.now())));
      }
      continue;
    }
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        if (stopped() || ws.readyState !== WebSocket.OPEN) {
          clearInterval(tick);
          if (ws.readyState === WebSocket.OPEN) ws.terminate();
          resolve();
          return;
        }
        flood(ws);
      }, 25);
      ws.once('close', (code) => {
        if (code === 1008) counts.closed_by_server++;
        clearInterval(tick);
        resolve();
      });
    });
  }
}

function send(ws: WebSocket, text: string, counts: HostileCounts): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(text);
  counts.frames++;
}

/** Starts every attacker; the returned function stops them and resolves what they did. */
function runAttackers(plan: AttackPlan): () => Promise<HostileCounts> {
  const { wsBase, channelId, tokens, mode, kinds } = plan;
  const counts: HostileCounts = { connects: 0, refused: 0, closed_by_server: 0, frames: 0 };
  let stop = false;
  const stopped = () => stop;
  const attackers: Promise<void>[] = [];
  for (let i = 0; i < (kinds.includes('irc') ? HOSTILE_IRC : 0); i++) {
    const address = ATTACKER_ADDRESSES[i % ATTACKER_ADDRESSES.length] ?? '203.0.113.7';
    let step = 0;
    attackers.push(
      attack(
        (refusal) => connect(`${wsBase}/irc`, ['irc'], address, counts, refusal),
        (ws) => {
          step++;
          if (step === 1) send(ws, `PASS SCHMOOPIIE\r\nNICK justinfan${i}`, counts);
          else if (step % 3 === 0)
            send(ws, `JOIN ${Array.from({ length: 500 }, (_, n) => `#x${n}y${step}`).join(',')}`, counts);
          else if (step % 3 === 1)
            send(ws, Array.from({ length: 10 }, (_, n) => `PASS oauth:g${n}`).join('\r\n'), counts);
          else send(ws, Array.from({ length: 50 }, (_, n) => `PING :${n}`).join('\r\n'), counts);
        },
        stopped,
        counts,
        mode,
      ),
    );
  }
  for (let i = 0; i < (kinds.includes('anonymous') ? HOSTILE_JSON_ANONYMOUS : 0); i++) {
    const address = ATTACKER_ADDRESSES[i % ATTACKER_ADDRESSES.length] ?? '203.0.113.7';
    let step = 0;
    attackers.push(
      attack(
        (refusal) => connect(`${wsBase}/ws/${channelId}`, [], address, counts, refusal),
        (ws) => {
          step++;
          if (step % 10 === 0) send(ws, JSON.stringify({ type: 'auth', token: `guess${step}` }), counts);
          else if (step % 25 === 0) send(ws, 'x'.repeat(4096), counts);
          else
            send(
              ws,
              JSON.stringify({
                type: 'chat_message',
                channel_id: channelId,
                content: `spam ${step}`,
              }),
              counts,
            );
        },
        stopped,
        counts,
        mode,
      ),
    );
  }
  for (let i = 0; i < (kinds.includes('signed-in') ? HOSTILE_JSON_SIGNED_IN : 0); i++) {
    const token = tokens[i % tokens.length];
    if (token === undefined) continue;
    let step = 0;
    attackers.push(
      attack(
        (refusal) =>
          connect(
            `${wsBase}/ws/${channelId}`,
            ['chat', `bearer.${token}`],
            pickViewerAddress(),
            counts,
            refusal,
          ),
        (ws) => {
          step++;
          send(
            ws,
            JSON.stringify({
              type: 'chat_message',
              channel_id: channelId,
              content: `spam ${i} ${step}`,
            }),
            counts,
          );
        },
        stopped,
        counts,
        mode,
      ),
    );
  }
  return async () => {
    stop = true;
    await Promise.all(attackers);
    return { ...counts };
  };
}

/**
 * Spawns the attackers' process (`priority: 'low'` under nice 19), waits until it has loaded, and
 * starts them; the returned function stops them and resolves their counts. The wait keeps the
 * process's own start (Node, TypeScript, modules: a few hundred ms of CPU on these two cores) out
 * of the measured window, which begins with the attack itself: 200 sockets connecting at once.
 */
export async function startAttackers(
  plan: Omit<z.input<typeof AttackPlan>, 'cmd'>,
  priority: 'same' | 'low',
): Promise<() => Promise<HostileCounts>> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'chat-attackers.ts');
  const command = priority === 'low' ? ['nice', '-n', '19', process.execPath] : [process.execPath];
  const [file = process.execPath, ...args] = command;
  const child = spawn(file, [...args, script, '--attacker'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the attackers did not start within 30 s'));
    }, 30_000);
    const onMessage = (raw: unknown) => {
      if (!ReadyReply.safeParse(raw).success) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
  });
  child.send({ cmd: 'start', ...plan });
  return () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the attackers did not stop within 30 s'));
      }, 30_000);
      child.on('message', (raw: unknown) => {
        const parsed = CountsReply.safeParse(raw);
        if (!parsed.success) return;
        clearTimeout(timer);
        const { kind: _kind, ...counts } = parsed.data;
        resolve(counts);
      });
      child.send({ cmd: 'stop' });
    });
}

if (process.argv.includes('--attacker')) {
  let stopAttackers: (() => Promise<HostileCounts>) | null = null;
  process.on('message', (raw: unknown) => {
    const start = AttackPlan.safeParse(raw);
    if (start.success) {
      stopAttackers ??= runAttackers(start.data);
      return;
    }
    if (!StopCommand.safeParse(raw).success || stopAttackers === null) return;
    void stopAttackers().then((counts) => {
      process.send?.({ kind: 'counts', ...counts }, () => process.exit(0));
    });
  });
  process.send?.({ kind: 'ready' });
}
