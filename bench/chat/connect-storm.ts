// A storm of chat upgrades against an otherwise idle local platform, all at once: anonymous JSON
// sockets from 2 networks (past 20 per network they are refused 429) and signed-in ones of 5 users.
// What chat-hostile.ts's attackers do in their first second, measured alone: how long until every
// upgrade is answered, three rounds (the first pays for cold objects).
// Loopback only; one table, JSON in bench/results/chat-connect-storm.json.
// `--profile` takes a CPU profile of the Worker's isolate over the warm rounds (2 and 3):
// bench/results/chat-connect-storm.cpuprofile, and the top functions by self time in the JSON.
//   node bench/chat/connect-storm.ts [--anonymous 150] [--signed-in 50] [--profile]
import { join } from 'node:path';
import type WebSocket from 'ws';
import { findFreePort, ROOT } from '../../scripts/lib/platform.ts';
import { startPlatform } from '../../test/e2e/harness.ts';
import { type Benchmark, readArg, runBenchmark } from '../lib/bench.ts';
import { type CpuProfiler, type ProfileHotspot, startCpuProfile } from '../lib/profile.ts';
import { openSocket } from './chat-receivers.ts';
import { prepareEdgestream, signUp } from './fanout-scenario.ts';

const ROUNDS = 3;
const USERS = 5;

/** Opens one socket (chat-receivers.ts's openSocket), timed; refused or failed is not accepted. */
async function upgrade(url: string, address: string): Promise<{ ws: WebSocket | null; ms: number }> {
  const started = performance.now();
  const ws = await openSocket(url, Date.now() + 30_000, { 'CF-Connecting-IP': address });
  return { ws, ms: performance.now() - started };
}

export const connectStormBench: Benchmark = {
  name: 'chat-connect-storm',
  async run() {
    const anonymous = Number(readArg('anonymous', '150'));
    const signedIn = Number(readArg('signed-in', '50'));
    const profile = process.argv.includes('--profile');
    const inspectorPort = await findFreePort();
    const platform = await startPlatform({ transcoder: false, inspectorPort });
    let profiler: CpuProfiler | null = null;
    let hotspots: ProfileHotspot[] = [];
    try {
      const target = await prepareEdgestream(platform.baseUrl, platform.port, 2);
      const url = target.receiverUrl;
      const suffix = Date.now() % 100_000;
      const users = await Promise.all(
        Array.from({ length: USERS }, (_, i) => signUp(platform.baseUrl, `storm${i}x${suffix}`)),
      );
      const rounds = [];
      for (let round = 0; round < ROUNDS; round++) {
        if (profile && round === 1) profiler = await startCpuProfile(inspectorPort);
        const started = performance.now();
        const results = await Promise.all([
          ...Array.from({ length: anonymous }, (_, i) => upgrade(url, `198.51.${round}.${i % 2}`)),
          ...Array.from({ length: signedIn }, (_, i) =>
            upgrade(`${url}?token=${users[i % USERS]?.token}`, `10.9.${round}.${i}`),
          ),
        ]);
        const wallMs = Math.round(performance.now() - started);
        const times = results.map((r) => r.ms).sort((a, b) => a - b);
        rounds.push({
          round: round + 1,
          upgrades: results.length,
          accepted: results.filter((r) => r.ws !== null).length,
          all_answered_ms: wallMs,
          p50_ms: Math.round(times[Math.floor(times.length / 2)] ?? 0),
        });
        for (const r of results) r.ws?.terminate();
        // Closes settle (seats released) before the next round.
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      if (profiler) {
        hotspots = await profiler.stop(join(ROOT, 'bench', 'results', 'chat-connect-storm.cpuprofile'));
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
            'accepted: as the bounds let them: 4 upgrades in flight per network (anonymous) or per token (signed-in), 20 seats per network, 20 sockets per user; the rest are refused 429 at once',
          ],
        },
        result: { anonymous, signed_in: signedIn, rounds, ...(profile ? { hotspots } : {}) },
      };
    } finally {
      await platform.stop();
    }
  },
};

if (process.argv[1]?.endsWith('connect-storm.ts')) await runBenchmark(connectStormBench);
