// Chat fan-out benchmark: edgestream (wrangler dev: Worker + ChatRoom + ChatShards) against a plain
// Node `ws` broadcast server on the same machine. For 1,000 and 5,000 sockets on one channel,
// 10 senders post 100 messages/s in total for a fixed window; every socket measures send-to-receive
// latency from the timestamps in the content. Both servers send one WebSocket message per ~100 ms
// batch per socket (edgestream's `batch` frame; the ws server batches the same way unless
// --node-batch-ms 0). Receivers are spread over child processes (bench/chat/chat-receivers.ts) so
// one Node event loop is not what saturates first. Prints a table and writes bench/results/chat.json.
//   node bench/chat/chat-bench.ts [--sockets 1000,5000] [--seconds 15] [--receiver-processes 2]
//     [--node-batch-ms 100] [--targets edgestream,node-ws]
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePort, ROOT, waitForTcp } from '../../scripts/lib/platform.ts';
import { startPlatform } from '../../test/e2e/harness.ts';
import { readArg } from '../lib/bench.ts';
import {
  prepareEdgestream,
  runScenario,
  type ScenarioResult,
  SENDERS,
  type Target,
  TOTAL_RATE,
} from './fanout-scenario.ts';

const SOCKET_COUNTS = readArg('sockets', '1000,5000').split(',').map(Number);
const MEASURE_MS = Number(readArg('seconds', '15')) * 1000;
/** The machine has 2 cores shared with the server under test: more processes only contend. */
const RECEIVER_PROCESSES = Math.max(1, Number(readArg('receiver-processes', '2')));
const NODE_BATCH_MS = Number(readArg('node-batch-ms', '100'));
const TARGETS = readArg('targets', 'edgestream,node-ws').split(',');

function formatTable(results: ScenarioResult[]): string {
  const header = [
    'target',
    'sockets',
    'connected',
    'sent',
    'delivered/s',
    'expected/s',
    'ws msgs/s',
    'p50 ms',
    'p99 ms',
  ];
  const rows = results.map((r) => [
    r.target,
    String(r.sockets),
    String(r.connected),
    String(r.sent),
    String(r.delivered_per_second),
    String(Math.round(r.expected_deliveries / (MEASURE_MS / 1000))),
    String(r.ws_messages_per_second),
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
  if (TARGETS.includes('edgestream')) {
    const platform = await startPlatform({ transcoder: false });
    try {
      const target = await prepareEdgestream(platform.baseUrl, platform.port);
      for (const sockets of SOCKET_COUNTS) {
        results.push(
          await runScenario(target, sockets, {
            measureMs: MEASURE_MS,
            receiverProcesses: RECEIVER_PROCESSES,
          }),
        );
        process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
      }
    } finally {
      // Worker errors during the run explain figures that look wrong.
      for (const line of platform.logs.filter((l) => /error/i.test(l)).slice(-10))
        process.stderr.write(`${line}\n`);
      await platform.stop();
    }
  }
  if (TARGETS.includes('node-ws')) {
    const port = await findFreePort();
    const server = spawn(
      process.execPath,
      [join(ROOT, 'bench/chat/ws-broadcast-server.ts'), String(port), String(NODE_BATCH_MS)],
      { stdio: 'ignore' },
    );
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
        results.push(
          await runScenario(nodeTarget, sockets, {
            measureMs: MEASURE_MS,
            receiverProcesses: RECEIVER_PROCESSES,
          }),
        );
        process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
      }
    } finally {
      server.kill('SIGTERM');
    }
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
    `${JSON.stringify({ measured_at: new Date().toISOString(), senders: SENDERS, total_rate: TOTAL_RATE, window_seconds: MEASURE_MS / 1000, node_ws_batch_ms: NODE_BATCH_MS, receiver_processes: RECEIVER_PROCESSES, results, ratios }, null, 2)}\n`,
  );
}

await main();
