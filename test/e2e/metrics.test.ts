// Operations end to end: a whole platform with a live RTMP publish, scraped directly and by a real
// Prometheus (Debian's package) with the alert rules loaded, as ops/prometheus/run-local.sh does
// against `npm start`. The stream's figures must be there and move between two scrapes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findFreePort, ROOT, waitFor } from '../../scripts/lib/platform.ts';
import { readSample } from '../node/metrics/prometheus-text.ts';
import { type Platform, startPlatform } from './harness.ts';
import { ApiClient, uniqueName } from './lib/api.ts';
import { type Publisher, publishTestPattern } from './lib/publisher.ts';

const TOKEN = `e2e-metrics-${crypto.randomUUID()}`;
const PART_ROUTE = '/internal/ingest/:channelId/:publishId/part/:rendition/:msn/:part';

let platform: Platform;
let publisher: Publisher | undefined;
let prometheus: ChildProcess | undefined;
let promDir: string | undefined;

async function scrapePlatform(): Promise<string> {
  const res = await fetch(`${platform.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

async function scrapeTranscoder(): Promise<string> {
  return (await fetch(`${platform.transcoderUrl}/metrics`)).text();
}

const QueryAnswer = z.object({
  status: z.literal('success'),
  data: z.object({
    result: z.array(
      z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) }),
    ),
  }),
});

/** Starts Prometheus scraping this platform every second; throws a clear sentence when it is not installed. */
async function startPrometheus(): Promise<string> {
  if (spawnSync('prometheus', ['--version']).status !== 0)
    throw new Error(
      'prometheus is missing: run scripts/ensure-env.sh as root or apt-get install prometheus.',
    );
  promDir = mkdtempSync(join(tmpdir(), 'edgestream-prometheus-'));
  writeFileSync(join(promDir, 'token'), TOKEN, { mode: 0o600 });
  copyFileSync(join(ROOT, 'ops/prometheus/alerts.yml'), join(promDir, 'alerts.yml'));
  const host = (url: string) => new URL(url).host;
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'rule_files: [alerts.yml]',
      'scrape_configs:',
      '  - job_name: edgestream-platform',
      `    authorization: { type: Bearer, credentials_file: ${join(promDir, 'token')} }`,
      `    static_configs: [{ targets: ["${host(platform.baseUrl)}"] }]`,
      '  - job_name: edgestream-transcoder',
      `    static_configs: [{ targets: ["${host(platform.transcoderUrl)}"] }]`,
      '',
    ].join('\n'),
  );
  const port = await findFreePort();
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  return `http://127.0.0.1:${port}`;
}

async function query(promUrl: string, expr: string): Promise<z.infer<typeof QueryAnswer>['data']['result']> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return QueryAnswer.parse(await res.json()).data.result;
}

describe('metrics on a live stack', () => {
  beforeAll(async () => {
    platform = await startPlatform({
      transcoder: true,
      vars: { METRICS_TOKEN: TOKEN, METRICS_FLUSH_SECONDS: '1' },
    });
  });

  afterAll(async () => {
    await publisher?.stop('SIGKILL');
    prometheus?.kill('SIGKILL');
    await platform?.stop();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  it('scrapes a running stream on both sides, directly and through Prometheus, and finds its figures moving', async () => {
    const refused = await fetch(`${platform.baseUrl}/metrics`);
    expect(refused.status).toBe(401);
    const api = new ApiClient(platform.baseUrl);
    const me = await api.signup(uniqueName('metrics'));
    const key = (await api.streamKey(me.channel.id)).stream_key;
    const promUrl = await startPrometheus();
    publisher = publishTestPattern(`${platform.rtmpUrl}/${key}`);
    await waitFor(
      'the stream to go live',
      async () =>
        (await api.request('GET', `/streams/${me.channel.id}/live`)).status === 200 ? true : undefined,
      30_000,
      250,
    );
    const parts = (text: string) =>
      readSample(text, 'edgestream_http_requests_total', {
        app: 'ingest',
        route: PART_ROUTE,
        method: 'PUT',
        status: '204',
      }) ?? 0;
    const firstPlatform = await waitFor(
      'part uploads in the platform metrics',
      async () => {
        const text = await scrapePlatform();
        return parts(text) > 0 ? text : undefined;
      },
      20_000,
      500,
    );
    const firstTranscoder = await scrapeTranscoder();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const secondPlatform = await scrapePlatform();
    const secondTranscoder = await scrapeTranscoder();

    expect(readSample(secondPlatform, 'edgestream_live_streams')).toBe(1);
    expect(parts(secondPlatform)).toBeGreaterThan(parts(firstPlatform));
    const delays = (text: string) => readSample(text, 'edgestream_part_publish_delay_seconds_count') ?? 0;
    expect(delays(secondPlatform)).toBeGreaterThan(delays(firstPlatform));
    const bytes = (text: string) =>
      readSample(text, 'transcoder_ingest_bytes_total', { protocol: 'rtmp' }) ?? 0;
    expect(bytes(secondTranscoder)).toBeGreaterThan(bytes(firstTranscoder));
    expect(readSample(secondTranscoder, 'transcoder_ingest_sessions', { protocol: 'rtmp' })).toBe(1);

    // Prometheus scrapes both with the operator token and sees the same stream.
    const seen = await waitFor(
      'Prometheus to scrape both targets and see the stream',
      async () => {
        const up = await query(promUrl, 'up');
        const live = await query(promUrl, 'edgestream_live_streams');
        const inBytes = await query(promUrl, 'rate(transcoder_ingest_bytes_total[5s])');
        const ready = up.length === 2 && up.every((s) => s.value[1] === '1') && live[0]?.value[1] === '1';
        return ready && Number(inBytes[0]?.value[1] ?? 0) > 0 ? { up, inBytes } : undefined;
      },
      30_000,
      1000,
    );
    expect(seen.up.map((s) => s.metric.job).sort()).toEqual(['edgestream-platform', 'edgestream-transcoder']);
  });
});
