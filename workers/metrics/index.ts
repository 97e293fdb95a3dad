// The platform's Prometheus endpoint and the Worker's own metric hooks. `GET /metrics` answers the
// text exposition (version 0.0.4) to an operator holding METRICS_TOKEN (a secret; 401 with the JSON
// error body otherwise): the series the PlatformMetrics object aggregated from every reporter, and
// gauges read from D1 at scrape time (live streams, viewers, dead letters), which therefore cost
// the hot paths nothing. The request middleware and the queue wrapper feed the isolate's recorder
// (durable-objects/metrics/recorder.ts): an in-memory update per request, one RPC per flush
// interval after a response. docs/operations.md has every metric and its hot-path cost.
import type { Context, Next } from 'hono';
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import * as z from 'zod/mini';
import type { ScrapeGauge } from '../../durable-objects/metrics/aggregate.ts';
import { METRICS_INSTANCE } from '../../durable-objects/metrics/platform-metrics.ts';
import { type MetricsSink, metrics } from '../../durable-objects/metrics/recorder.ts';
import { handleError, unauthorized } from '../shared/errors.ts';
import { isBearerSecret } from '../shared/operator-auth.ts';

export const EXPOSITION_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const LiveRow = z.object({ streams: z.number(), viewers: z.nullable(z.number()) });
const DeadLetterRow = z.object({ queue: z.string(), n: z.number() });

/** Gauges that D1 already knows: read once per scrape (an index range scan and a GROUP BY). */
async function readScrapeGauges(db: D1Database): Promise<ScrapeGauge[]> {
  const [live, dead] = await db.batch([
    db.prepare("SELECT count(*) AS streams, sum(viewer_count) AS viewers FROM streams WHERE status = 'live'"),
    db.prepare('SELECT queue, count(*) AS n FROM dead_letters GROUP BY queue ORDER BY queue'),
  ]);
  const row = LiveRow.parse(live?.results[0] ?? { streams: 0, viewers: 0 });
  const gauges: ScrapeGauge[] = [
    { name: 'edgestream_live_streams', help: 'Streams live now (D1 streams.status).', value: row.streams },
    {
      name: 'edgestream_viewers',
      help: 'Viewers of live streams, the sum of the last viewer counts the chat rooms reported (D1 streams.viewer_count).',
      value: row.viewers ?? 0,
    },
  ];
  const deadRows = (dead?.results ?? []).map((raw) => DeadLetterRow.parse(raw));
  const help = 'Dead letters kept in D1 for operators, by queue (deleted once handled).';
  if (deadRows.length === 0)
    gauges.push({ name: 'edgestream_dead_letters', help, labels: { queue: '' }, value: 0 });
  for (const { queue, n } of deadRows)
    gauges.push({ name: 'edgestream_dead_letters', help, labels: { queue }, value: n });
  return gauges;
}

export const metricsApp = new Hono<{ Bindings: Env }>();
metricsApp.onError(handleError);

metricsApp.get('/metrics', async (c) => {
  if (!(await isBearerSecret(c.req.header('authorization'), c.env.METRICS_TOKEN)))
    throw unauthorized('The metrics need the operator token (Authorization: Bearer METRICS_TOKEN)');
  const gauges = await readScrapeGauges(c.env.DB);
  const body = await c.env.METRICS.getByName(METRICS_INSTANCE).render(gauges);
  return c.body(body, 200, { 'Content-Type': EXPOSITION_TYPE, 'Cache-Control': 'no-store' });
});

/** Which app of the Worker a path belongs to: a bounded label (the catalog lists the values). */
function toApp(path: string): string {
  if (path.startsWith('/api/')) return 'api';
  if (path.startsWith('/live/')) return 'playback';
  if (path.startsWith('/internal/ingest/')) return 'ingest';
  if (path.startsWith('/vod/') || path.startsWith('/media/')) return 'vod';
  if (path.startsWith('/clips/')) return 'clips';
  if (path.startsWith('/ws') || path === '/irc' || path === '/') return 'chat';
  if (path === '/metrics') return 'metrics';
  return 'other';
}

const PART_UPLOAD_ROUTE = '/internal/ingest/:channelId/:publishId/part/:rendition/:msn/:part';

/** The request's sink; null (record only) when the app runs without an ExecutionContext (app.request in a test). */
function readSink(c: Context<{ Bindings: Env }>): MetricsSink | null {
  try {
    return { env: c.env, ctx: c.executionCtx };
  } catch {
    return null;
  }
}

/**
 * Records every response's route, status and time in the isolate's recorder. The route label is
 * the matched route pattern (bounded by the code), never the raw path. Hot-path cost: two Map
 * updates; a due batch leaves through waitUntil after the response.
 */
export async function recordRequestMetrics(c: Context<{ Bindings: Env }>, next: Next): Promise<void> {
  const started = performance.now();
  await next();
  const seconds = (performance.now() - started) / 1000;
  // After next() the route index is the handler's that answered: its pattern, mount prefix included.
  const route = routePath(c);
  const app = toApp(c.req.path);
  const sink = readSink(c);
  metrics.add(sink, 'edgestream_http_requests_total', {
    app,
    route,
    method: c.req.method,
    status: String(c.res.status),
  });
  metrics.observe(sink, 'edgestream_http_request_duration_seconds', { app, route }, seconds);
  if (route === PART_UPLOAD_ROUTE && c.res.status < 300)
    metrics.observe(sink, 'edgestream_part_publish_delay_seconds', {}, seconds);
  if (app === 'playback' && c.req.query('_HLS_msn') !== undefined && c.res.status < 300)
    metrics.observe(sink, 'edgestream_blocking_reload_wait_seconds', {}, seconds);
}

/**
 * Wraps the queue consumer: each message's lag (enqueued → delivered) before the batch runs, and
 * for clip requests the time from request to the batch's end (the clip job's latency).
 */
export async function consumeWithMetrics(
  batch: MessageBatch,
  env: Env,
  ctx: ExecutionContext,
  consume: (batch: MessageBatch, env: Env) => Promise<void>,
): Promise<void> {
  const sink = { env, ctx };
  const now = Date.now();
  for (const message of batch.messages) {
    const lag = Math.max(0, now - message.timestamp.getTime()) / 1000;
    metrics.observe(sink, 'edgestream_queue_lag_seconds', { queue: batch.queue }, lag);
  }
  metrics.add(sink, 'edgestream_queue_messages_total', { queue: batch.queue }, batch.messages.length);
  await consume(batch, env);
  if (batch.queue !== 'clip-requests') return;
  const done = Date.now();
  for (const message of batch.messages) {
    metrics.observe(
      sink,
      'edgestream_clip_job_seconds',
      {},
      Math.max(0, done - message.timestamp.getTime()) / 1000,
    );
  }
}
