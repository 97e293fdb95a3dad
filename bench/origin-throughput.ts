// Origin throughput: with a stream live, N concurrent clients hammer the Worker (wrangler dev) on
// loopback with keep-alive connections.
//   blocking: each client behaves as an LL-HLS player: a blocking reload for the next part
//     (`_HLS_msn`/`_HLS_part` of the preload hint), then a GET of that part, and again. Its pace is
//     the stream's (one part per ~200 ms), so its response time is mostly waiting for the part.
//   non-blocking: each client asks for the playlist and the newest listed part back to back,
//     as fast as the origin answers: that is the origin's serving capacity.
//   node bench/origin-throughput.ts
import { Agent, get } from 'node:http';
import { type BenchOutcome, pickWindowMs, runBenchmark } from './lib/bench.ts';
import { defineLiveBenchmark, type LiveSession } from './lib/live-session.ts';
import { buildBlockingQuery, findAwaitedPart, parseMediaPlaylist } from './lib/playlist.ts';
import { formatNumber, roundSummary, summarize } from './lib/stats.ts';

const SOURCE = { size: '640x360', fps: 30, videoBitrate: '800k' };
const CLIENT_COUNTS = [50, 200];
const BLOCKING_SECONDS = 20;
const NON_BLOCKING_SECONDS = 10;
/** A blocking reload is answered within 3 × TARGETDURATION (or 503): nothing should take longer. */
const REQUEST_TIMEOUT_MS = 8_000;

type Mode = 'blocking' | 'non-blocking';
type Kind = 'playlist' | 'part';

interface TimedResponse {
  status: number;
  ms: number;
  body: string;
}

interface Tally {
  ms: number[];
  errors: number;
  /** Error responses by status (0: no response: reset, refused or timed out). */
  errorStatuses: Record<string, number>;
  bytes: number;
}

/** One GET on a keep-alive agent; the body is read in full (parts too: a player downloads them). */
function fetchTimed(agent: Agent, url: string, keepBody: boolean): Promise<TimedResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = get(url, { agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          ms: performance.now() - started,
          body: keepBody ? body.toString('utf8') : String(body.length),
        });
      });
      res.on('error', () => resolve({ status: 0, ms: performance.now() - started, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started, body: '' }));
  });
}

function record(tally: Tally, response: TimedResponse, isPart: boolean): boolean {
  if (response.status !== 200) {
    tally.errors += 1;
    const key = String(response.status);
    tally.errorStatuses[key] = (tally.errorStatuses[key] ?? 0) + 1;
    return false;
  }
  tally.ms.push(response.ms);
  tally.bytes += isPart ? Number(response.body) : response.body.length;
  return true;
}

async function runBlockingClient(
  agent: Agent,
  playlistUrl: string,
  deadline: number,
  tallies: Record<Kind, Tally>,
): Promise<void> {
  let playlist = parseMediaPlaylist((await fetchTimed(agent, playlistUrl, true)).body);
  while (Date.now() < deadline && playlist.preloadHint !== null) {
    const wanted = playlist.preloadHint;
    const response = await fetchTimed(agent, `${playlistUrl}?${buildBlockingQuery(wanted)}`, true);
    if (!record(tallies.playlist, response, false)) {
      playlist = parseMediaPlaylist((await fetchTimed(agent, playlistUrl, true)).body);
      continue;
    }
    playlist = parseMediaPlaylist(response.body);
    const part = findAwaitedPart(playlist, wanted);
    if (part === undefined || Date.now() >= deadline) continue;
    record(tallies.part, await fetchTimed(agent, new URL(part.uri, playlistUrl).toString(), false), true);
  }
}

async function runNonBlockingClient(
  agent: Agent,
  playlistUrl: string,
  deadline: number,
  tallies: Record<Kind, Tally>,
): Promise<void> {
  while (Date.now() < deadline) {
    const response = await fetchTimed(agent, playlistUrl, true);
    if (!record(tallies.playlist, response, false)) continue;
    const newest = parseMediaPlaylist(response.body).parts.at(-1);
    if (newest === undefined || Date.now() >= deadline) continue;
    record(tallies.part, await fetchTimed(agent, new URL(newest.uri, playlistUrl).toString(), false), true);
  }
}

interface ScenarioResult {
  mode: Mode;
  clients: number;
  window_seconds: number;
  playlist: ReturnType<typeof describeTally>;
  part: ReturnType<typeof describeTally>;
  total_per_second: number;
}

function describeTally(tally: Tally, seconds: number) {
  return {
    served: tally.ms.length,
    errors: tally.errors,
    error_statuses: tally.errorStatuses,
    per_second: Math.round((tally.ms.length / seconds) * 10) / 10,
    megabits_per_second: Math.round(((tally.bytes * 8) / seconds / 1e6) * 10) / 10,
    ms: roundSummary(summarize(tally.ms)),
  };
}

async function runScenario(session: LiveSession, mode: Mode, clients: number): Promise<ScenarioResult> {
  const playlistUrl = session.mediaPlaylistUrl('source');
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const tallies: Record<Kind, Tally> = {
    playlist: { ms: [], errors: 0, errorStatuses: {}, bytes: 0 },
    part: { ms: [], errors: 0, errorStatuses: {}, bytes: 0 },
  };
  const windowMs = pickWindowMs(mode === 'blocking' ? BLOCKING_SECONDS : NON_BLOCKING_SECONDS);
  const started = performance.now();
  const deadline = Date.now() + windowMs;
  const client = mode === 'blocking' ? runBlockingClient : runNonBlockingClient;
  await Promise.all(Array.from({ length: clients }, () => client(agent, playlistUrl, deadline, tallies)));
  // Requests in flight at the deadline still count: divide by the time they really took.
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const playlist = describeTally(tallies.playlist, seconds);
  const part = describeTally(tallies.part, seconds);
  return {
    mode,
    clients,
    window_seconds: Math.round(seconds * 10) / 10,
    playlist,
    part,
    total_per_second: Math.round((playlist.per_second + part.per_second) * 10) / 10,
  };
}

async function measure(session: LiveSession): Promise<BenchOutcome> {
  const results: ScenarioResult[] = [];
  for (const clients of CLIENT_COUNTS) {
    for (const mode of ['blocking', 'non-blocking'] as const)
      results.push(await runScenario(session, mode, clients));
  }
  const rows = results.flatMap((r) =>
    (['playlist', 'part'] as const).map((kind) => [
      `${r.mode} ${kind === 'playlist' ? (r.mode === 'blocking' ? 'playlist (_HLS_msn/_HLS_part)' : 'playlist') : 'part GET'}`,
      String(r.clients),
      formatNumber(r[kind].per_second, 1),
      formatNumber(r[kind].ms.p50, 1),
      formatNumber(r[kind].ms.p99, 1),
      String(r[kind].errors),
      formatNumber(r[kind].megabits_per_second, 1),
    ]),
  );
  return {
    table: {
      title: 'origin throughput (wrangler dev on loopback, keep-alive clients)',
      source: `live source ${SOURCE.size} ${SOURCE.fps} fps passthrough, source.m3u8 + its parts; blocking ${pickWindowMs(BLOCKING_SECONDS) / 1000} s, non-blocking ${pickWindowMs(NON_BLOCKING_SECONDS) / 1000} s per client count`,
      headers: ['requests', 'clients', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'Mbit/s'],
      rows,
      notes: [
        'blocking reloads wait for the next part (~200 ms) by design: their req/s is the stream pace x clients, not capacity',
        'the load generator, workerd, the transcoder and ffmpeg share the same cores: capacity figures are a floor',
        ...results.map(
          (r) => `${r.mode} x${r.clients}: ${r.total_per_second} req/s in all over ${r.window_seconds} s`,
        ),
      ],
    },
    result: { scenarios: results },
  };
}

export const originThroughputBench = defineLiveBenchmark('origin-throughput', SOURCE, measure);

if (import.meta.main) await runBenchmark(originThroughputBench);
