// Placement time (issue 11): what the fleet adds to a publish authorization. wrangler dev on
// loopback with channels seeded in D1; each case authorizes publishes one after another, each on a
// fresh channel, timed from send to last byte, and ends it (untimed) so slots stay free:
//   no fleet: the master INGEST_SECRET (a lone transcoder: no placement)
//   3 nodes / 50 nodes: a node token, so the FleetRegistry object places the publish (reserve,
//     beginPublish, bind: two more object calls), with that many nodes registered and heart-beating
//     (FleetMember, the transcoder's own client)
//   node bench/fleet-placement.ts
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetClient } from '../containers/transcoder/src/fleet/fleet-client.ts';
import { FleetMember } from '../containers/transcoder/src/fleet/fleet-member.ts';
import { AuthorizeResponse } from '../protocol/ingest.ts';
import {
  applyMigrations,
  findFreePort,
  runCommand,
  startWorker,
  stopAllManaged,
} from '../scripts/lib/platform.ts';
import { deriveNodeToken } from '../workers/origin/fleet-token.ts';
import { deriveStreamKey, hashStreamKey } from '../workers/shared/stream-keys.ts';
import { type BenchOutcome, QUICK, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';

const REPEATS = QUICK ? 20 : 100;
const NODE_COUNTS = [3, 50];
const SECRETS = { INGEST_SECRET: 'bench-ingest-secret', STREAM_KEY_SECRET: 'bench-stream-key-secret' };
const WRANGLER = join(import.meta.dirname, '..', 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const WARM_UP = 5;
const CHANNELS = REPEATS * (NODE_COUNTS.length + 1) + WARM_UP;

async function buildSeed(): Promise<{ sql: string; keys: string[] }> {
  const keys: string[] = [];
  const rows: string[] = [];
  for (let i = 0; i < CHANNELS; i++) {
    const key = await deriveStreamKey(SECRETS.STREAM_KEY_SECRET, `fleet-c-${i}`, 1);
    keys.push(key);
    rows.push(
      `INSERT INTO users (id, username, password_hash, created_at) VALUES ('fleet-u-${i}', 'fleet_${i}', 'x', 0);`,
      `INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, tier, created_at)
         VALUES ('fleet-c-${i}', 'fleet-u-${i}', 'fleet_${i}', 'Fleet ${i}', '${await hashStreamKey(key)}', 'affiliate', 0);`,
    );
  }
  return { sql: rows.join('\n'), keys };
}

async function authorize(
  base: string,
  bearer: string,
  streamKey: string,
): Promise<{ ms: number; grant: AuthorizeResponse }> {
  const started = performance.now();
  const res = await fetch(`${base}/internal/ingest/authorize`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream_key: streamKey }),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}: ${text}`);
  return { ms, grant: AuthorizeResponse.parse(JSON.parse(text)) };
}

async function endPublish(base: string, bearer: string, grant: AuthorizeResponse): Promise<void> {
  const res = await fetch(`${base}/internal/ingest/${grant.channel_id}/${grant.publish_id}/end`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason: 'publisher_closed' }),
  });
  await res.body?.cancel();
  if (res.status !== 204) throw new Error(`end answered ${res.status}`);
}

export const fleetPlacementBench = {
  name: 'fleet-placement',
  async run(): Promise<BenchOutcome> {
    const persistTo = mkdtempSync(join(tmpdir(), 'edgestream-fleet-bench-'));
    await applyMigrations(persistTo);
    const seed = await buildSeed();
    const seedFile = join(persistTo, 'seed.sql');
    writeFileSync(seedFile, seed.sql);
    await runCommand(
      process.execPath,
      [WRANGLER, 'd1', 'execute', 'DB', '--local', '--persist-to', persistTo, '--file', seedFile],
      {
        CI: 'true',
      },
    );
    const port = await findFreePort();
    await startWorker({ port, persistTo, secrets: SECRETS });
    const base = `http://127.0.0.1:${port}`;
    const members: FleetMember[] = [];
    let nextKey = 0;
    const measure = async (bearer: string, repeats = REPEATS): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const key = seed.keys[nextKey++] ?? '';
        const { ms, grant } = await authorize(base, bearer, key);
        times.push(ms);
        await endPublish(base, bearer, grant);
      }
      return times;
    };
    try {
      // Warm-up: the first requests compile the Worker and open D1 and the objects.
      await measure(SECRETS.INGEST_SECRET, WARM_UP);
      const cases: Array<[string, number[]]> = [
        ['no fleet (master secret)', await measure(SECRETS.INGEST_SECRET)],
      ];
      for (const count of NODE_COUNTS) {
        while (members.length < count) {
          const nodeId = `bench-node-${members.length + 1}`;
          const member = new FleetMember({
            client: new FleetClient({
              originUrl: base,
              token: await deriveNodeToken(SECRETS.INGEST_SECRET, nodeId),
            }),
            nodeId,
            region: 'local',
            ingestUrls: [`rtmp://127.0.0.1:1935/live`],
            capacity: { encode_slots: 8, max_streams: 16, gpu: false },
            load: () => ({ streams: 0, active_encodes: 0 }),
            claims: () => [],
            onForeign: () => {},
            log: () => {},
          });
          member.start();
          members.push(member);
          await member.registered;
        }
        const token = await deriveNodeToken(SECRETS.INGEST_SECRET, 'bench-node-1');
        cases.push([`${count} nodes (node token, placed)`, await measure(token)]);
      }
      const baseline = summarize(cases[0]?.[1] ?? []).p50 ?? 0;
      return {
        table: {
          title: 'Placement time: publish authorization with and without the fleet',
          source: `wrangler dev on loopback, local D1 and objects; ${REPEATS} sequential publishes per case, each on a fresh affiliate channel`,
          headers: ['case', 'n', 'p50 ms', 'p99 ms', 'max ms', 'p50 added ms'],
          rows: cases.map(([name, times]) => {
            const s = summarize(times);
            return [
              name,
              String(s.count),
              formatNumber(s.p50, 1),
              formatNumber(s.p99, 1),
              formatNumber(s.max, 1),
              formatNumber((s.p50 ?? 0) - baseline, 1),
            ];
          }),
          notes: [
            'the fleet adds the FleetRegistry calls (place, bind) to the LiveStream call; heartbeats run meanwhile',
          ],
        },
        result: Object.fromEntries(cases.map(([name, times]) => [name, roundSummary(summarize(times))])),
      };
    } finally {
      await Promise.all(members.map((member) => member.close()));
      await stopAllManaged();
    }
  },
};

if (import.meta.main) await runBenchmark(fleetPlacementBench);
