// The top-channel chat design measured (docs/capacity.md, "shards pre-aggregate, a relay level"):
// the fan-out scenario of chat-bench.ts (1,000 receivers, 10 senders at 100 msg/s) on a room split
// into 20 shards of 50 sockets, once with the room calling every shard (relay group size above the
// shard count) and once through relays (groups of 5: 4 relay calls a batch instead of 20). From the
// platform's own /metrics (edgestream_chat_room_calls_total) before and after each window: the
// room's outgoing calls per second and its incoming submit calls per message. Loopback only; one
// table, JSON in bench/results/chat-relay.json.
//   node bench/chat/chat-relay.ts [--sockets 1000] [--seconds 15] [--per-shard 50] [--group 5]

import { startPlatform } from '../../test/e2e/harness.ts';
import { readSample } from '../../test/node/metrics/prometheus-text.ts';
import { type Benchmark, pickWindowMs, readArg, runBenchmark } from '../lib/bench.ts';
import { prepareEdgestream, runScenario, type ScenarioResult } from './fanout-scenario.ts';

const METRICS_TOKEN = 'bench-metrics-token';

interface RoomCalls {
  deliver: number;
  submit_batch: number;
  messages: number;
}

async function scrape(baseUrl: string): Promise<RoomCalls> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const calls = (call: string) => readSample(text, 'edgestream_chat_room_calls_total', { call }) ?? 0;
  const messages = ['none', 'affiliate', 'partner']
    .map((tier) => readSample(text, 'edgestream_chat_messages_total', { tier }) ?? 0)
    .reduce((a, b) => a + b, 0);
  return { deliver: calls('deliver'), submit_batch: calls('submit_batch'), messages };
}

interface Run {
  label: string;
  groupSize: number;
  scenario: ScenarioResult;
  deliver_calls_per_second: number;
  submit_calls_per_second: number;
  messages_per_submit_call: number | null;
}

async function measure(
  label: string,
  perShard: number,
  groupSize: number,
  sockets: number,
  measureMs: number,
): Promise<Run> {
  const platform = await startPlatform({
    transcoder: false,
    vars: {
      METRICS_TOKEN,
      METRICS_FLUSH_SECONDS: '1',
      CHAT_SOCKETS_PER_SHARD: String(perShard),
      CHAT_RELAY_GROUP_SIZE: String(groupSize),
    },
  });
  try {
    const target = await prepareEdgestream(platform.baseUrl, platform.port);
    const window: { before: RoomCalls | null } = { before: null };
    const scenario = await runScenario(target, sockets, {
      measureMs,
      receiverProcesses: 2,
      // Read at the start and the end of the measured window (the background hook spans it).
      background: async () => {
        window.before = await scrape(platform.baseUrl);
        return async () => ({});
      },
    });
    // The objects report their deltas at most every METRICS_FLUSH_SECONDS, on their next call.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const after = await scrape(platform.baseUrl);
    // The calls happen while the senders send (the window); afterwards the room is nearly idle.
    const seconds = measureMs / 1000;
    const start: RoomCalls = window.before ?? { deliver: 0, submit_batch: 0, messages: 0 };
    const submits = after.submit_batch - start.submit_batch;
    const messages = after.messages - start.messages;
    return {
      label,
      groupSize,
      scenario,
      deliver_calls_per_second: Math.round((after.deliver - start.deliver) / seconds),
      submit_calls_per_second: Math.round(submits / seconds),
      messages_per_submit_call: submits > 0 ? Number((messages / submits).toFixed(2)) : null,
    };
  } finally {
    await platform.stop();
  }
}

export const chatRelayBench: Benchmark = {
  name: 'chat-relay',
  async run() {
    const sockets = Number(readArg('sockets', '1000'));
    const perShard = Number(readArg('per-shard', '50'));
    const group = Number(readArg('group', '5'));
    const measureMs = pickWindowMs(Number(readArg('seconds', '15')));
    const shards = Math.ceil(sockets / perShard);
    const direct = await measure('direct', perShard, shards + 1, sockets, measureMs);
    const relayed = await measure('relays', perShard, group, sockets, measureMs);
    const row = (r: Run) => [
      r.label,
      r.label === 'direct' ? String(shards) : `${Math.ceil(shards / r.groupSize)} × ${r.groupSize}`,
      String(r.scenario.connected),
      String(r.scenario.delivered_per_second),
      String(r.scenario.p50_ms ?? '-'),
      String(r.scenario.p99_ms ?? '-'),
      String(r.deliver_calls_per_second),
      String(r.submit_calls_per_second),
      String(r.messages_per_submit_call ?? '-'),
    ];
    return {
      table: {
        title: 'Chat room calls with and without relays',
        source: `${sockets} receivers on one channel in ${shards} shards of ${perShard}, 10 senders at 100 msg/s, ${measureMs / 1000} s windows (wrangler dev, loopback)`,
        headers: [
          'room calls',
          'shards/relays',
          'receivers',
          'delivered/s',
          'p50 ms',
          'p99 ms',
          'deliver calls/s',
          'submit calls/s',
          'msgs per submit',
        ],
        rows: [row(direct), row(relayed)],
        notes: [
          'deliver calls/s: the room to its shards (direct) or relays; submit calls/s: shards to the room (messages pre-aggregated per round trip)',
        ],
      },
      result: { sockets, shards, per_shard: perShard, window_seconds: measureMs / 1000, direct, relayed },
    };
  },
};

if (process.argv[1]?.endsWith('chat-relay.ts')) await runBenchmark(chatRelayBench);
