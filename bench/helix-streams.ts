// Helix `GET /streams` latency with 1,000 live streams (issue 13): wrangler dev on loopback with
// D1 seeded with 1,000 live channels, an app access token from /oauth2/token (client
// credentials), then sequential requests, each timed from send to last byte:
//   first page: `GET /helix/streams?first=100` (the directory's top 100 by viewers)
//   walk: all 10 pages of 100 through the `after` cursor
//   filtered: `?game_id=<one of 8 categories>&first=20`
// Each request also takes a point from the Helix rate bucket (one D1 upsert), as in production.
//   node bench/helix-streams.ts
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  applyMigrations,
  findFreePort,
  runCommand,
  startWorker,
  stopAllManaged,
} from '../scripts/lib/platform.ts';
import { type BenchOutcome, QUICK, runBenchmark } from './lib/bench.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';

const LIVE_STREAMS = 1000;
const PAGE = 100;
/** Requests per measured case; the Helix bucket (800 a minute) is never the limit here. */
const REPEATS = QUICK ? 20 : 100;
const WRANGLER = join(import.meta.dirname, '..', 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** 1,000 users, channels and live streams with spread viewer counts, in one SQL file. */
function buildSeedSql(): string {
  const numbers = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${LIVE_STREAMS})`;
  return [
    `${numbers} INSERT INTO users (id, username, password_hash, created_at) SELECT 'bench-u-' || i, 'bench_' || i, 'x', 0 FROM n;`,
    `${numbers} INSERT INTO channels (id, user_id, name, display_name, stream_key_hash, created_at)
       SELECT 'bench-c-' || i, 'bench-u-' || i, 'bench_' || i, 'Bench ' || i, 'bench-k-' || i, 0 FROM n;`,
    `${numbers} INSERT INTO streams (id, channel_id, title, category_id, language, status, viewer_count, started_at, created_at)
       SELECT 'bench-s-' || i, 'bench-c-' || i, 'stream ' || i, (i % 8) + 1, 'en', 'live', (i * 7919) % 5000, 0, 0 FROM n;`,
  ].join('\n');
}

const TokenAnswer = z.object({ access_token: z.string() });
const AppCreated = z.object({ client_id: z.string(), client_secret: z.string() });
const Session = z.object({ token: z.string() });
const StreamsPage = z.object({
  data: z.array(z.object({ id: z.string() })),
  pagination: z.object({ cursor: z.string().optional() }),
});

async function timedGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ ms: number; body: unknown }> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  const body: unknown = await res.json();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

export const helixStreamsBench = {
  name: 'helix-streams',
  async run(): Promise<BenchOutcome> {
    const persistTo = mkdtempSync(join(tmpdir(), 'edgestream-helix-bench-'));
    await applyMigrations(persistTo);
    const seedFile = join(persistTo, 'seed.sql');
    writeFileSync(seedFile, buildSeedSql());
    await runCommand(
      process.execPath,
      [WRANGLER, 'd1', 'execute', 'DB', '--local', '--persist-to', persistTo, '--file', seedFile],
      {
        CI: 'true',
      },
    );
    const port = await findFreePort();
    await startWorker({
      port,
      persistTo,
      secrets: { INGEST_SECRET: 'bench-ingest-secret', STREAM_KEY_SECRET: 'bench-stream-key-secret' },
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      const json = { 'Content-Type': 'application/json' };
      const signup = await fetch(`${base}/api/v1/auth/signup`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ username: 'helix_bench', password: 'correct horse battery' }),
      });
      const session = Session.parse(await signup.json());
      const created = await fetch(`${base}/api/v1/developer/apps`, {
        method: 'POST',
        headers: { ...json, Authorization: `Bearer ${session.token}` },
        body: JSON.stringify({ name: 'bench', redirect_uris: ['http://localhost/cb'] }),
      });
      const app = AppCreated.parse(await created.json());
      const tokenRes = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: app.client_id,
          client_secret: app.client_secret,
        }),
      });
      const { access_token } = TokenAnswer.parse(await tokenRes.json());
      const headers = { 'Client-Id': app.client_id, Authorization: `Bearer ${access_token}` };

      // Warm-up: the first requests compile and open D1.
      for (let i = 0; i < 5; i++) await timedGet(`${base}/helix/streams?first=${PAGE}`, headers);
      const firstPage: number[] = [];
      for (let i = 0; i < REPEATS; i++)
        firstPage.push((await timedGet(`${base}/helix/streams?first=${PAGE}`, headers)).ms);
      const pageTimes: number[] = [];
      let seen = 0;
      for (let walk = 0; walk < Math.max(1, REPEATS / 20); walk++) {
        let cursor: string | undefined;
        seen = 0;
        do {
          const query = `first=${PAGE}${cursor === undefined ? '' : `&after=${encodeURIComponent(cursor)}`}`;
          const { ms, body } = await timedGet(`${base}/helix/streams?${query}`, headers);
          const page = StreamsPage.parse(body);
          pageTimes.push(ms);
          seen += page.data.length;
          cursor = page.pagination.cursor;
        } while (cursor !== undefined && seen < LIVE_STREAMS * 2);
      }
      if (seen !== LIVE_STREAMS) throw new Error(`the cursor walk saw ${seen} streams`);
      const filtered: number[] = [];
      for (let i = 0; i < REPEATS; i++)
        filtered.push((await timedGet(`${base}/helix/streams?game_id=${(i % 8) + 1}&first=20`, headers)).ms);

      const cases = [
        ['first page (first=100)', summarize(firstPage)],
        ['cursor walk, per page', summarize(pageTimes)],
        ['game_id filter (first=20)', summarize(filtered)],
      ] as const;
      return {
        table: {
          title: `Helix GET /streams with ${LIVE_STREAMS} live streams`,
          source: `wrangler dev on loopback, local D1, app access token; ${REPEATS} sequential requests per case`,
          headers: ['case', 'n', 'p50 ms', 'p99 ms', 'max ms'],
          rows: cases.map(([name, s]) => [
            name,
            String(s.count),
            formatNumber(s.p50, 1),
            formatNumber(s.p99, 1),
            formatNumber(s.max, 1),
          ]),
          notes: [`cursor walk saw ${seen} streams in ${LIVE_STREAMS / PAGE} pages`],
        },
        result: {
          live_streams: LIVE_STREAMS,
          first_page_ms: roundSummary(summarize(firstPage)),
          cursor_page_ms: roundSummary(summarize(pageTimes)),
          filtered_ms: roundSummary(summarize(filtered)),
          streams_seen_in_walk: seen,
        },
      };
    } finally {
      await stopAllManaged();
    }
  },
};

if (import.meta.main) await runBenchmark(helixStreamsBench);
