// EventSub delivery latency (issue 13): from the API call that causes an event to the EventSub
// WebSocket notification. wrangler dev on loopback with local D1 and Queues; one session
// subscribed to channel.follow (v2) through Helix with a user token; a fan follows and unfollows
// the channel in turn, and each follow is timed from its POST to the notification's arrival. The
// path measured: API → stream-events queue (max_batch_timeout 1 s, wrangler.toml) → consumer →
// EventSubSession → socket.
//   node bench/eventsub-latency.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { applyMigrations, findFreePort, startWorker, stopAllManaged } from '../scripts/lib/platform.ts';
import { issueUserToken, registerApp } from '../test/e2e/lib/oauth.ts';
import { type BenchOutcome, QUICK, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';

const FOLLOWS = QUICK ? 10 : 40;
const NOTIFICATION_TIMEOUT_MS = 15_000;

const Session = z.object({
  token: z.string(),
  user: z.object({ id: z.string() }),
  channel: z.object({ id: z.string() }),
});
const Frame = z.object({
  metadata: z.object({ message_type: z.string(), message_id: z.string() }),
  payload: z.looseObject({ session: z.object({ id: z.string() }).optional() }),
});

async function signUp(base: string, username: string) {
  const res = await fetch(`${base}/api/v1/auth/signup`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: 'correct horse battery' }),
  });
  if (res.status !== 201) throw new Error(`signup: ${res.status} ${await res.text()}`);
  return Session.parse(await res.json());
}

export const eventSubLatencyBench = {
  name: 'eventsub-latency',
  async run(): Promise<BenchOutcome> {
    const persistTo = mkdtempSync(join(tmpdir(), 'edgestream-eventsub-bench-'));
    await applyMigrations(persistTo);
    const port = await findFreePort();
    await startWorker({
      port,
      persistTo,
      secrets: { INGEST_SECRET: 'bench-ingest-secret', STREAM_KEY_SECRET: 'bench-stream-key-secret' },
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      const broadcaster = await signUp(base, 'eventsub_host');
      const fan = await signUp(base, 'eventsub_fan');
      const app = await registerApp(base, broadcaster.token, 'eventsub bench');
      const token = await issueUserToken(base, app, broadcaster.token, ['moderator:read:followers']);

      const arrivals: number[] = [];
      const ws = new WebSocket(`ws://127.0.0.1:${port}/eventsub/ws?keepalive_timeout_seconds=60`);
      const sessionId = await new Promise<string>((resolve, reject) => {
        ws.addEventListener('error', () => reject(new Error('EventSub socket failed')));
        ws.addEventListener('message', (event) => {
          const frame = Frame.parse(JSON.parse(String(event.data)));
          if (frame.metadata.message_type === 'session_welcome' && frame.payload.session)
            resolve(frame.payload.session.id);
          if (frame.metadata.message_type === 'notification') arrivals.push(performance.now());
        });
      });
      const created = await fetch(`${base}/helix/eventsub/subscriptions`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Client-Id': app.clientId,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          type: 'channel.follow',
          version: '2',
          condition: { broadcaster_user_id: broadcaster.user.id, moderator_user_id: broadcaster.user.id },
          transport: { method: 'websocket', session_id: sessionId },
        }),
      });
      if (created.status !== 202) throw new Error(`subscribe: ${created.status} ${await created.text()}`);

      const followUrl = `${base}/api/v1/channels/${broadcaster.channel.id}/follow`;
      const auth = { Authorization: `Bearer ${fan.token}` };
      const latencies: number[] = [];
      for (let i = 0; i < FOLLOWS; i++) {
        const before = arrivals.length;
        const started = performance.now();
        const res = await fetch(followUrl, { method: 'POST', headers: auth });
        if (res.status >= 300) throw new Error(`follow: ${res.status} ${await res.text()}`);
        const deadline = Date.now() + NOTIFICATION_TIMEOUT_MS;
        while (arrivals.length === before && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        const arrived = arrivals[before];
        if (arrived === undefined)
          throw new Error(`follow ${i}: no notification in ${NOTIFICATION_TIMEOUT_MS} ms`);
        latencies.push(arrived - started);
        await fetch(followUrl, { method: 'DELETE', headers: auth });
      }
      ws.close();
      const s = summarize(latencies);
      return {
        table: {
          title: 'EventSub delivery latency (follow → channel.follow over WebSocket)',
          source: `wrangler dev on loopback, local D1 and Queues; ${FOLLOWS} sequential follows`,
          headers: ['n', 'p50 ms', 'p99 ms', 'max ms'],
          rows: [[String(s.count), formatNumber(s.p50, 0), formatNumber(s.p99, 0), formatNumber(s.max, 0)]],
          notes: ['dominated by the stream-events queue batch window (max_batch_timeout 1 s)'],
        },
        result: { follows: FOLLOWS, latency_ms: roundSummary(s) },
      };
    } finally {
      await stopAllManaged();
    }
  },
};

if (import.meta.main) await runBenchmark(eventSubLatencyBench);
