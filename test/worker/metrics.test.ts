// The platform's /metrics: the operator token, the aggregating object's sequence rule (a stale or
// repeated batch is ignored, never double-counted), the Worker's request and queue hooks and the
// gauges read from D1 at scrape time. The workerd tests flush every batch at once
// (METRICS_FLUSH_SECONDS = 0 in vitest.workers.config.ts).
import {
  createExecutionContext,
  createMessageBatch,
  env,
  SELF,
  waitOnExecutionContext,
} from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { MetricsReport } from '../../durable-objects/metrics/catalog.ts';
import { METRICS_INSTANCE } from '../../durable-objects/metrics/platform-metrics.ts';
import { MetricsRecorder } from '../../durable-objects/metrics/recorder.ts';
import worker from '../../workers/index.ts';
import { signUp } from './api-helpers.ts';
import { openJson, seedUser } from './chat-fixtures.ts';
import { createTestChannel, getPlaylist, putPart, startTestStream } from './origin-fixtures.ts';

const TOKEN = 'test-metrics-token';

async function scrape(): Promise<string> {
  const res = await SELF.fetch('http://localhost/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  return res.text();
}

/** The value of the sample whose name and labels are given exactly, or undefined. */
function sampleValue(exposition: string, sample: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

/** Scrapes until `sample` reaches `atLeast` (a flush leaves through waitUntil), for at most 5 s. */
async function scrapeUntil(sample: string, atLeast: number): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const body = await scrape();
    if ((sampleValue(body, sample) ?? 0) >= atLeast || Date.now() > deadline) return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function messagesReport(reporter: string, sequence: number, tier: string, value: number): MetricsReport {
  return {
    reporter,
    sequence,
    series: [{ name: 'edgestream_chat_messages_total', labels: { tier }, value }],
  };
}

describe('GET /metrics', () => {
  it('refuses a scrape without the operator token, or with a wrong one, with the JSON error body', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: TOKEN },
    ];
    for (const headers of attempts) {
      const res = await SELF.fetch('http://localhost/metrics', { headers });
      expect(res.status).toBe(401);
      const body: unknown = await res.json();
      expect(body).toMatchObject({ error: { code: 'unauthorized' } });
    }
  });

  it('counts API requests and playback errors by route pattern and status, never by raw path', async () => {
    const channelId = `missing-${crypto.randomUUID()}`;
    await SELF.fetch('http://localhost/api/v1/health');
    const miss = await SELF.fetch(`http://localhost/live/${channelId}/master.m3u8`);
    expect(miss.status).toBe(404);
    const body = await scrapeUntil(
      'edgestream_http_requests_total{app="playback",route="/live/:channelId/master.m3u8",method="GET",status="404"}',
      1,
    );
    expect(
      sampleValue(
        body,
        'edgestream_http_requests_total{app="api",route="/api/v1/health",method="GET",status="200"}',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(body).toContain(
      'edgestream_http_request_duration_seconds_bucket{app="api",route="/api/v1/health",le="+Inf"}',
    );
    expect(body).not.toContain(channelId);
  });

  it('reads live streams, their viewers and dead letters from D1 at scrape time', async () => {
    const streamer = await signUp('metricslive');
    await env.DB.prepare(
      "INSERT INTO streams (id, channel_id, title, status, created_at, viewer_count) VALUES (?, ?, 'On air', 'live', ?, 42)",
    )
      .bind(crypto.randomUUID(), streamer.channel.id, Date.now())
      .run();
    await env.DB.prepare(
      "INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?, 'clip-requests-dlq', '{}', ?)",
    )
      .bind(crypto.randomUUID(), Date.now())
      .run();
    const body = await scrape();
    expect(sampleValue(body, 'edgestream_live_streams')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(body, 'edgestream_viewers')).toBeGreaterThanOrEqual(42);
    expect(sampleValue(body, 'edgestream_dead_letters{queue="clip-requests-dlq"}')).toBeGreaterThanOrEqual(1);
  });

  it('records each queue message lag, and a clip request from enqueue to the end of its batch', async () => {
    const batch = createMessageBatch('clip-requests', [
      // An unparseable body is acked and logged: the batch still runs and ends.
      {
        id: crypto.randomUUID(),
        timestamp: new Date(Date.now() - 90_000),
        attempts: 1,
        body: { not: 'an event' },
      },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    await waitOnExecutionContext(ctx);
    const body = await scrapeUntil('edgestream_clip_job_seconds_count', 1);
    // 90 s old: above the 60 s bucket, inside the 120 s one.
    expect(sampleValue(body, 'edgestream_queue_lag_seconds_bucket{queue="clip-requests",le="60"}') ?? 0).toBe(
      0,
    );
    expect(sampleValue(body, 'edgestream_queue_lag_seconds_bucket{queue="clip-requests",le="120"}')).toBe(1);
    expect(sampleValue(body, 'edgestream_clip_job_seconds_bucket{le="120"}')).toBe(1);
    expect(sampleValue(body, 'edgestream_queue_messages_total{queue="clip-requests"}')).toBe(1);
  });
});

describe('playback hooks', () => {
  it('times blocking reloads and part uploads, and counts edge-cache misses then hits', async () => {
    const channel = await createTestChannel();
    const publish = await startTestStream(channel, ['source'], 1);
    const before = await scrape();
    const count = (body: string, sample: string) => sampleValue(body, sample) ?? 0;
    const query = '?_HLS_msn=1&_HLS_part=0';
    const held = getPlaylist(channel.channelId, 'source.m3u8', query);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await putPart(publish, 'source', 1, 0);
    expect((await held).status).toBe(200);
    // The same URL again: the edge cache answers it.
    expect((await getPlaylist(channel.channelId, 'source.m3u8', query)).status).toBe(200);
    const after = await scrapeUntil(
      'edgestream_edge_cache_lookups_total{result="hit"}',
      count(before, 'edgestream_edge_cache_lookups_total{result="hit"}') + 1,
    );
    for (const sample of [
      'edgestream_blocking_reload_wait_seconds_count',
      'edgestream_part_publish_delay_seconds_count',
      'edgestream_edge_cache_lookups_total{result="miss"}',
      'edgestream_edge_cache_lookups_total{result="hit"}',
    ]) {
      expect(count(after, sample), sample).toBeGreaterThan(count(before, sample));
    }
  });
});

describe('chat hooks', () => {
  it('counts chat sockets as they open and close, and accepted messages by channel tier', async () => {
    const owner = await seedUser('metricschat', 'affiliate');
    const sockets = (body: string) => sampleValue(body, 'edgestream_chat_sockets') ?? 0;
    const before = sockets(await scrape());
    const client = await openJson(owner.channelId, owner.token);
    client.say(owner.channelId, 'hello, metrics');
    await client.next('chat_message');
    const open = await scrapeUntil('edgestream_chat_messages_total{tier="affiliate"}', 1);
    expect(sockets(open)).toBe(before + 1);
    client.close();
    const deadline = Date.now() + 5000;
    let after = sockets(await scrape());
    while (after !== before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = sockets(await scrape());
    }
    expect(after).toBe(before);
  });
});

describe('PlatformMetrics', () => {
  it('ignores a repeated or stale sequence from a reporter instead of counting it twice', async () => {
    const stub = env.METRICS.getByName(METRICS_INSTANCE);
    const reporter = `test:${crypto.randomUUID()}`;
    const tier = `tier-${crypto.randomUUID()}`;
    expect(await stub.report(messagesReport(reporter, 1, tier, 3))).toEqual({ kind: 'accepted', series: 1 });
    expect(await stub.report(messagesReport(reporter, 1, tier, 3))).toEqual({
      kind: 'stale',
      lastSequence: 1,
    });
    expect(await stub.report(messagesReport(reporter, 2, tier, 2))).toEqual({ kind: 'accepted', series: 1 });
    expect(await stub.report(messagesReport(reporter, 1, tier, 3))).toEqual({
      kind: 'stale',
      lastSequence: 2,
    });
    // Another reporter's sequence is its own.
    expect(await stub.report(messagesReport(`${reporter}-b`, 1, tier, 10))).toMatchObject({
      kind: 'accepted',
    });
    const body = await scrape();
    expect(sampleValue(body, `edgestream_chat_messages_total{tier="${tier}"}`)).toBe(15);
  });

  it('refuses a report naming an unknown metric, wrong labels or a negative counter delta, applying none of it', async () => {
    const stub = env.METRICS.getByName(METRICS_INSTANCE);
    const tier = `tier-${crypto.randomUUID()}`;
    const good = { name: 'edgestream_chat_messages_total', labels: { tier }, value: 1 };
    const bad = [
      { name: 'edgestream_made_up_total', labels: {}, value: 1 },
      { name: 'edgestream_chat_messages_total', labels: { tier, channel_id: 'c1' }, value: 1 },
      { name: 'edgestream_chat_messages_total', labels: { tier }, value: -5 },
      { name: 'edgestream_clip_job_seconds', labels: {}, buckets: [1], sum: 1 },
    ];
    for (const [i, delta] of bad.entries()) {
      const outcome = await stub.report({
        reporter: `test:${crypto.randomUUID()}`,
        sequence: i + 1,
        series: [good, delta],
      });
      expect(outcome.kind).toBe('invalid');
    }
    expect(await stub.report({ reporter: 'x', sequence: 0, series: [] })).toMatchObject({ kind: 'invalid' });
    expect(sampleValue(await scrape(), `edgestream_chat_messages_total{tier="${tier}"}`)).toBeUndefined();
  });

  it('escapes label values so a quote or line break cannot forge a sample', async () => {
    const stub = env.METRICS.getByName(METRICS_INSTANCE);
    const tier = `evil"} 999\nedgestream_live_streams 1e9 #${crypto.randomUUID()}`;
    await stub.report(messagesReport(`test:${crypto.randomUUID()}`, 1, tier, 1));
    const body = await scrape();
    expect(body).not.toContain('\nedgestream_live_streams 1e9');
    expect(body).toContain(
      'edgestream_chat_messages_total{tier="evil\\"} 999\\nedgestream_live_streams 1e9 #',
    );
  });
});

describe('MetricsRecorder', () => {
  it('resends a batch whose answer was lost with the same sequence, so it is counted once', async () => {
    const tier = `tier-${crypto.randomUUID()}`;
    let loseNextAnswer = true;
    const sink = {
      env: {
        METRICS_FLUSH_SECONDS: '0',
        METRICS: {
          getByName: (name: string) => ({
            report: async (report: MetricsReport) => {
              const outcome = await env.METRICS.getByName(name).report(report);
              if (loseNextAnswer) {
                loseNextAnswer = false;
                throw new Error('connection reset after the object applied the batch');
              }
              return outcome;
            },
          }),
        },
      },
      ctx: createExecutionContext(),
    };
    const recorder = new MetricsRecorder(`test:${crypto.randomUUID()}`);
    recorder.add(sink, 'edgestream_chat_messages_total', { tier }, 4);
    await waitOnExecutionContext(sink.ctx);
    // The next flush resends the same batch (the object answers stale), then the new delta.
    recorder.add(sink, 'edgestream_chat_messages_total', { tier }, 1);
    await waitOnExecutionContext(sink.ctx);
    recorder.flushIfDue(sink);
    await waitOnExecutionContext(sink.ctx);
    expect(sampleValue(await scrape(), `edgestream_chat_messages_total{tier="${tier}"}`)).toBe(5);
  });
});
