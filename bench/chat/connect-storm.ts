// A storm of chat upgrades against an otherwise idle local platform, all at once: anonymous JSON
// sockets from 2 networks (past 20 per network they are refused 429) and signed-in ones of 5 users.
// What chat-hostile.ts's attackers do in their first second, measured alone: how long until every
// upgrade is answered, three rounds (the first pays for cold objects).
// Loopback only; one table, JSON in bench/results/chat-connect-storm.json.
//   node bench/chat/connect-storm.ts [--anonymous 150] [--signed-in 50]
import WebSocket from 'ws';
import { startPlatform } from '../../test/e2e/harness.ts';
import { type Benchmark, runBenchmark } from '../lib/bench.ts';
import { prepareEdgestream, signUp } from './fanout-scenario.ts';

const ROUNDS = 3;
const USERS = 5;

function readArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface Upgrade {
  accepted: boolean;
  ms: number;
  ws: WebSocket;
}

function upgrade(url: string, protocols: string[], address: string): Promise<Upgrade> {
  return new Promise((resolve) => {
    const started = performance.now();
    const ws = new WebSocket(url, protocols, {
      headers: { 'CF-Connecting-IP': address },
      perMessageDeflate: false,
    });
    const done = (accepted: boolean) => resolve({ accepted, ms: performance.now() - started, ws });
    const timer = setTimeout(() => done(false), 30_000);
    ws.once('open', () => {
      clearTimeout(timer);
      done(true);
    });
    ws.once('unexpected-response', () => {
      clearTimeout(timer);
      done(false);
    });
    ws.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
}

export const connectStormBench: Benchmark = {
  name: 'chat-connect-storm',
  async run() {
    const anonymous = Number(readArg('anonymous', '150'));
    const signedIn = Number(readArg('signed-in', '50'));
    const platform = await startPlatform({ transcoder: false });
    try {
      const target = await prepareEdgestream(platform.baseUrl, platform.port, 2);
      const url = target.receiverUrl;
      const suffix = Date.now() % 100_000;
      const users = await Promise.all(
        Array.from({ length: USERS }, (_, i) => signUp(platform.baseUrl, `storm${i}x${suffix}`)),
      );
      const rounds = [];
      for (let round = 0; round < ROUNDS; round++) {
        const started = performance.now();
        const results = await Promise.all([
          ...Array.from({ length: anonymous }, (_, i) => upgrade(url, [], `198.51.${round}.${i % 2}`)),
          ...Array.from({ length: signedIn }, (_, i) =>
            upgrade(url, ['chat', `bearer.${users[i % USERS]?.token}`], `10.9.${round}.${i}`),
          ),
        ]);
        const wallMs = Math.round(performance.now() - started);
        const times = results.map((r) => r.ms).sort((a, b) => a - b);
        rounds.push({
          round: round + 1,
          upgrades: results.length,
          accepted: results.filter((r) => r.accepted).length,
          all_answered_ms: wallMs,
          p50_ms: Math.round(times[Math.floor(times.length / 2)] ?? 0),
        });
        for (const r of results) r.ws.terminate();
        // Closes settle (seats released) before the next round.
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      return {
        table: {
          title: 'Chat upgrades all at once',
          source: `${anonymous} anonymous JSON sockets from 2 networks + ${signedIn} signed-in of ${USERS} users, one channel, idle platform (wrangler dev, loopback)`,
          headers: ['round', 'upgrades', 'accepted', 'all answered ms', 'p50 ms'],
          rows: rounds.map((r) => [
            String(r.round),
            String(r.upgrades),
            String(r.accepted),
            String(r.all_answered_ms),
            String(r.p50_ms),
          ]),
          notes: [
            'accepted: every signed-in socket (20 per user); anonymous ones as the 4 in flight per network and the 20 seats per network let them',
          ],
        },
        result: { anonymous, signed_in: signedIn, rounds },
      };
    } finally {
      await platform.stop();
    }
  },
};

if (process.argv[1]?.endsWith('connect-storm.ts')) await runBenchmark(connectStormBench);
