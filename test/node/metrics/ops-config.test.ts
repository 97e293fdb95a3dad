// ops/: the Prometheus scrape configs, the alert rules (checked and unit-tested), the Grafana
// dashboard's queries, and the text exposition of both sides, all through `promtool` (Debian's
// prometheus package; scripts/ensure-env.sh installs it). Without promtool these tests fail and
// say how to install it.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  recordUploadLatency,
  TranscoderMetrics,
} from '../../../containers/transcoder/src/metrics/transcoder-metrics.ts';
import { renderExposition, type SeriesState } from '../../../durable-objects/metrics/aggregate.ts';
import { METRICS, type MetricDefinition } from '../../../durable-objects/metrics/catalog.ts';
import { runPromtool } from './prometheus-text.ts';

const OPS = join(import.meta.dirname, '../../../ops');
const SCRAPE_GAUGES = ['edgestream_live_streams', 'edgestream_viewers', 'edgestream_dead_letters'];

/** Every catalog metric with one sample series, as the PlatformMetrics object renders it. */
function renderPlatformSample(): string {
  const series: SeriesState[] = Object.entries(METRICS).map(([name, raw]) => {
    const definition: MetricDefinition = raw;
    const labels = Object.fromEntries(definition.labels.map((label) => [label, `sample-${label}`]));
    const buckets =
      definition.type === 'histogram' ? (definition.buckets ?? []).map(() => 1).concat([1]) : [];
    return { name, labels, value: definition.type === 'histogram' ? buckets.length : 3, buckets, sum: 1.5 };
  });
  return renderExposition(series, [
    { name: 'edgestream_live_streams', help: 'Streams live now.', value: 2 },
    { name: 'edgestream_viewers', help: 'Viewers of live streams.', value: 40 },
    {
      name: 'edgestream_dead_letters',
      help: 'Dead letters by queue.',
      labels: { queue: 'clip-requests-dlq' },
      value: 1,
    },
  ]);
}

/** A node's exposition with one live publish on it. */
async function renderTranscoderSample(): Promise<string> {
  const metrics = new TranscoderMetrics({
    capacity: () => ({ activeEncodes: 1, maxEncodes: 4 }),
    encoder: 'libx264',
    nodeId: 'node-a',
  });
  metrics.track(
    'rtmp',
    {
      grant: { stream_id: 'stream-1' },
      stats: {
        bytesIn: 1_000_000,
        videoCodec: 'avc',
        audioCodec: 'aac',
        width: 1280,
        height: 720,
        frameRate: 30,
        videoBitrate: 3_000_000,
        keyframeIntervalMs: 2000,
        lastMediaTimestamp: 10_000,
        audioAnnounced: true,
      },
      onClose: () => () => {},
    },
    {
      stats: () => ({
        streamId: 'stream-1',
        channelId: 'channel-1',
        renditions: ['source', 'audio'],
        passthrough: true,
        ffmpegRuns: 2,
        ffmpegSpeed: 1.02,
        heldInputBytes: 0,
        heartbeatsSent: 3,
        standby: null,
        waitingOnStandby: false,
        relay: null,
        uploads: {
          source: {
            uploaded: 10,
            droppedParts: 1,
            failed: 0,
            pending: 2,
            latencyMs: { count: 10, mean: 20, p50: 15, p95: 40, max: 60 },
          },
        },
      }),
    },
  );
  recordUploadLatency({ kind: 'part', meta: { rendition: 'source' } }, 42);
  return metrics.registry.metrics();
}

describe('ops/prometheus', () => {
  it('passes promtool check config for the deployment and the local scrape configs', async () => {
    for (const file of ['prometheus.yml', 'prometheus.local.yml']) {
      // The token files are the operator's; a placeholder stands in so promtool can check the rest.
      const dir = mkdtempSync(join(tmpdir(), 'edgestream-prom-'));
      const token = join(dir, 'token');
      writeFileSync(token, 'placeholder');
      for (const extra of ['alerts.yml', 'transcoders.json'])
        copyFileSync(join(OPS, 'prometheus', extra), join(dir, extra));
      const config = readFileSync(join(OPS, 'prometheus', file), 'utf8').replace(
        /credentials_file: .*/g,
        `credentials_file: ${token}`,
      );
      writeFileSync(join(dir, file), config);
      const result = await runPromtool(['check', 'config', join(dir, file)]);
      expect(result.output).toContain('SUCCESS');
      expect(result.code, result.output).toBe(0);
    }
  });

  it('passes promtool check rules and the rules unit tests (each alert fires on its case and stays quiet on the others)', async () => {
    const check = await runPromtool(['check', 'rules', join(OPS, 'prometheus', 'alerts.yml')]);
    expect(check.code, check.output).toBe(0);
    const tests = await runPromtool(['test', 'rules', join(OPS, 'prometheus', 'alerts.test.yml')]);
    expect(tests.code, tests.output).toBe(0);
    const rules = readFileSync(join(OPS, 'prometheus', 'alerts.yml'), 'utf8');
    for (const alert of [
      'EdgestreamAvailabilityBurnFast',
      'EdgestreamPartPublishDelayBurnFast',
      'EdgestreamQueueConsumerLag',
      'EdgestreamDeadLetters',
      'TranscoderEncodeBelowRealtime',
      'TranscoderNodeDown',
    ]) {
      expect(rules).toContain(`alert: ${alert}`);
    }
  });

  it('passes promtool check metrics for the platform and the transcoder expositions', async () => {
    const platform = await runPromtool(['check', 'metrics'], renderPlatformSample());
    expect(platform.code, platform.output).toBe(0);
    const transcoder = await runPromtool(['check', 'metrics'], await renderTranscoderSample());
    // prom-client's own Node gauges are named *_total; promtool's lint names them and nothing else.
    const problems = transcoder.output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .filter(
        (line) => !/^transcoder_nodejs_active_(handles|requests|resources)_total non-counter/.test(line),
      );
    expect(problems).toEqual([]);
  });
});

const Dashboard = z.object({
  title: z.string(),
  panels: z
    .array(z.object({ title: z.string(), targets: z.array(z.object({ expr: z.string() })).min(1) }))
    .min(1),
});

describe('ops/grafana', () => {
  it('queries only metrics the platform, the transcoder or the recording rules produce, in valid PromQL', async () => {
    const dashboard = Dashboard.parse(
      JSON.parse(readFileSync(join(OPS, 'grafana', 'edgestream-dashboard.json'), 'utf8')),
    );
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    const rules = readFileSync(join(OPS, 'prometheus', 'alerts.yml'), 'utf8');
    const known = new Set<string>([
      'up',
      ...SCRAPE_GAUGES,
      ...[...rules.matchAll(/record: (\S+)/g)].map((m) => m[1] ?? ''),
    ]);
    for (const text of [renderPlatformSample(), await renderTranscoderSample()]) {
      for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[ {]/gm)) known.add(m[1] ?? '');
    }
    const PROMQL_WORDS = new Set([
      'sum',
      'by',
      'rate',
      'increase',
      'histogram_quantile',
      'min',
      'max',
      'le',
      'and',
    ]);
    for (const expr of exprs) {
      const names = [
        ...expr
          .replace(/\{[^}]*\}/g, '')
          .replace(/\[[^\]]*\]/g, '')
          .matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g),
      ]
        .map((m) => m[0])
        .filter(
          (word) =>
            !PROMQL_WORDS.has(word) && !/^(instance|route|status|tier|queue|protocol|rendition)$/.test(word),
        );
      for (const name of names) expect(known, `${name} in ${expr}`).toContain(name);
    }
    // promtool parses PromQL when it checks rules: each panel query becomes one recording rule.
    const dir = mkdtempSync(join(tmpdir(), 'edgestream-dash-'));
    const file = join(dir, 'panels.yml');
    const body = exprs
      .map((expr, i) => `      - record: panel:${i}\n        expr: ${JSON.stringify(expr)}`)
      .join('\n');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${body}\n`);
    const result = await runPromtool(['check', 'rules', file]);
    expect(result.code, result.output).toBe(0);
  });
});
