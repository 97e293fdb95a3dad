// The capacity and cost model at the seed's scale (docs/capacity.md): unit figures measured by
// `npm run bench` (bench/results/*.json, else the quiet-machine figures of docs/benchmarks.md),
// published limits and prices, and labelled assumptions, scaled to 100K concurrent streams, 50M
// viewers, 500K chat msg/s and a 50K msg/s top channel. Prints one table per question and writes
// bench/results/capacity.json. `npm run capacity`; also printed at the end of `npm run bench`.
// Every number carries its source: measured, published (a provider's price or limit page), seed
// (the brief's figures) or assumed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  AUDIO_BITRATE,
  DEFAULT_SOURCE_BITRATE,
  LADDER_RUNGS,
} from '../containers/transcoder/src/ffmpeg/ladder.ts';

const RESULTS = join(import.meta.dirname, '..', 'bench', 'results');

type Source = 'measured' | 'published' | 'seed' | 'assumed' | 'derived';
interface Figure {
  value: number;
  unit: string;
  source: Source;
  note: string;
}
const fig = (value: number, unit: string, source: Source, note: string): Figure => ({
  value,
  unit,
  source,
  note,
});

// ---- the seed ---------------------------------------------------------------------------------
const SEED = {
  streams: fig(100_000, 'streams', 'seed', 'concurrent streams'),
  viewers: fig(50_000_000, 'viewers', 'seed', 'concurrent viewers'),
  chatGlobal: fig(500_000, 'msg/s', 'seed', 'chat messages/s, global'),
  chatTop: fig(50_000, 'msg/s', 'seed', 'chat messages/s, top channel'),
  egressMbps: fig(4, 'Mbit/s', 'seed', 'average viewer bitrate'),
  cdnPerGb: fig(0.03, '$/GB', 'seed', 'CDN price in the seed (≈ $2.7M/hour at 200 Tbps)'),
  topViewers: fig(500_000, 'viewers', 'seed', 'a stream going viral (1K → 500K)'),
};

// ---- published limits and prices (Cloudflare, AWS price pages) ----------------------------------
const PUBLISHED = {
  doSoftLimit: fig(1000, 'req/s', 'published', 'Durable Object: soft limit of ~1,000 requests/s per object'),
  workerPerM: fig(0.3, '$/M requests', 'published', 'Workers Standard, per million requests'),
  doPerM: fig(0.15, '$/M requests', 'published', 'Durable Objects, per million requests'),
  r2ClassA: fig(4.5, '$/M ops', 'published', 'R2 Class A (PUT), per million'),
  r2ClassB: fig(0.36, '$/M ops', 'published', 'R2 Class B (GET), per million'),
  r2Storage: fig(0.015, '$/GB-month', 'published', 'R2 storage; egress free'),
  queuePerM: fig(
    0.4,
    '$/M ops',
    'published',
    'Queues, per million operations (write, read, delete: 3 per message)',
  ),
  doRowsWrittenPerM: fig(
    1,
    '$/M rows',
    'published',
    'SQLite-backed Durable Objects: rows written, per million (a delete is a row written)',
  ),
  isolateMemoryMb: fig(128, 'MB', 'published', 'memory of one isolate, which objects of a class may share'),
  partWindowSeconds: fig(
    6,
    's',
    'published',
    'HLS: parts are removed once more than three target durations (3 × 2 s) from the end',
  ),
  streamPer1000Min: fig(1, '$/1000 min delivered', 'published', 'Cloudflare Stream delivery'),
  ivsViewerHour: fig(
    0.15,
    '$/viewer-hour',
    'published',
    'Amazon IVS HD output (approx., North America, standard channel)',
  ),
};

// ---- assumptions ------------------------------------------------------------------------------
const ASSUMED = {
  tierMix: { partner: 0.01, affiliate: 0.1, none: 0.89 },
  renditionsMean: fig(
    2.3,
    'renditions/stream',
    'assumed',
    'from the tier mix: partner 6, affiliate 3, none 2',
  ),
  llhlsShare: fig(0.8, 'share', 'assumed', 'viewers with an LL-HLS player (5 playlist + 5 part requests/s)'),
  colos: fig(300, 'locations', 'assumed', 'edge locations a global stream reaches'),
  upperTiers: fig(12, 'locations', 'assumed', 'tiered-cache upper tiers (regional shields)'),
  coreHour: fig(0.04, '$/core-hour', 'assumed', 'cloud vCPU on demand for x264 nodes'),
  sourceMbps: fig(
    DEFAULT_SOURCE_BITRATE / 1e6,
    'Mbit/s',
    'assumed',
    "a source's bitrate (OBS's 1080p60 default; ladder.ts DEFAULT_SOURCE_BITRATE)",
  ),
  upperTiersPerStream: fig(
    3,
    'upper tiers',
    'assumed',
    "mean upper tiers that fetch a stream's parts (most streams have a small, regional audience)",
  ),
  nodeCores: fig(32, 'cores', 'assumed', 'transcoder node size, run to 70 %'),
  chatShardSockets: fig(
    500,
    'sockets/shard',
    'measured',
    'SOCKETS_PER_SHARD (durable-objects/chat-room/chat-room.ts)',
  ),
};

// ---- measured unit figures: bench/results/*.json, else docs/benchmarks.md -----------------------
function readResult(name: string): unknown {
  const path = join(RESULTS, `${name}.json`);
  if (!existsSync(path)) return undefined;
  const Wrapper = z.object({ result: z.unknown(), machine: z.object({ measuredAt: z.string() }).optional() });
  const parsed = Wrapper.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data.result : undefined;
}

const TranscodeCases = z.object({
  cases: z.array(
    z.object({ tier: z.string(), label: z.string(), cores_for_real_time: z.number().nullable() }),
  ),
});

function measuredCores(): Record<'none' | 'affiliate' | 'partner', Figure> {
  const docs = (value: number, tier: string) =>
    fig(
      value,
      'cores/stream',
      'measured',
      `${tier}, 720p30 libx264 veryfast (docs/benchmarks.md, 2026-11-21)`,
    );
  const fallback = {
    none: docs(0.07, 'passthrough'),
    affiliate: docs(0.2, 'affiliate'),
    partner: docs(0.5, 'partner'),
  };
  const parsed = TranscodeCases.safeParse(readResult('transcode-speed'));
  if (!parsed.success) return fallback;
  const pick = (tier: string, labelPart: string, backup: Figure): Figure => {
    const found = parsed.data.cases.find((c) => c.tier === tier && c.label.includes(labelPart));
    return found?.cores_for_real_time
      ? fig(
          found.cores_for_real_time,
          'cores/stream',
          'measured',
          `${tier}, bench/results/transcode-speed.json`,
        )
      : backup;
  };
  return {
    none: pick('none', 'passthrough', fallback.none),
    affiliate: pick('affiliate', 'affiliate', fallback.affiliate),
    partner: pick('partner', 'partner', fallback.partner),
  };
}

const MEASURED = {
  cores: measuredCores(),
  originReqPerCore: fig(
    392 / 2,
    'req/s per core',
    'measured',
    'non-blocking playlists, wrangler dev, 2 cores (docs/benchmarks.md)',
  ),
  chatDeliveriesPerProcess: fig(
    99_067,
    'deliveries/s',
    'measured',
    '1,000 sockets × 100 msg/s, one workerd (docs/benchmarks.md)',
  ),
  partListedP50: fig(15.7, 'ms', 'measured', 'packager emit → listed, p50 (docs/benchmarks.md)'),
  roomBatchesPerSecond: fig(
    10,
    'batches/s',
    'measured',
    'ChatRoom flushes a batch every ~100 ms (docs/architecture.md)',
  ),
};

// ---- the model ----------------------------------------------------------------------------------
const HOUR = 3600;
const MONTH_HOURS = 730;
const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** Bits per second of a tier's whole ladder (ladder.ts), each rendition with its audio. */
function ladderMbps(tier: 'none' | 'affiliate' | 'partner'): number {
  const rungs = { none: [], affiliate: ['480p30'], partner: LADDER_RUNGS.map((rung) => rung.name) }[tier];
  const video = rungs.reduce(
    (sum, name) => sum + (LADDER_RUNGS.find((rung) => rung.name === name)?.videoBitrate ?? 0),
    ASSUMED.sourceMbps.value * 1e6,
  );
  // Every video rendition carries the audio, and the audio-only rendition is one more.
  return (video + (rungs.length + 2) * AUDIO_BITRATE) / 1e6;
}

/**
 * Design change 2 of docs/capacity.md: the LiveStream object holds the newest parts' bytes (the
 * ingest already sends every part through it) and serves them to the edge; only segments go to R2.
 */
function computePartsInObject(streams: number, renditions: number, commitsPerStream: number) {
  const window = PUBLISHED.partWindowSeconds.value;
  const heldMb = (tier: 'none' | 'affiliate' | 'partner') => (ladderMbps(tier) * window) / 8;
  const partsPerSecond = streams * renditions * 5;
  const partPutsPerHour = (partsPerSecond * HOUR * PUBLISHED.r2ClassA.value) / 1e6;
  // Every part the edge misses is one read at its upper tier: an R2 GET today, an object call then.
  const partReadsPerSecond = streams * ASSUMED.upperTiersPerStream.value * renditions * 5;
  const r2GetsPerHour = (partReadsPerSecond * HOUR * PUBLISHED.r2ClassB.value) / 1e6;
  const objectReadsPerHour = (partReadsPerSecond * HOUR * PUBLISHED.doPerM.value) / 1e6;
  // Kept in SQLite instead of memory: a row written per part and one deleted as it ages out.
  const sqliteRingPerHour = (partsPerSecond * 2 * HOUR * PUBLISHED.doRowsWrittenPerM.value) / 1e6;
  // A viral partner stream: every upper tier reads every part of every rendition from one object.
  const tiers = ASSUMED.upperTiers.value;
  const globalStreamRequests = tiers * 6 * 5 * 2 + 6 * 5.5;
  return {
    ladder_mbps: {
      none: round(ladderMbps('none'), 2),
      affiliate: round(ladderMbps('affiliate'), 2),
      partner: round(ladderMbps('partner'), 2),
    },
    held_mb_per_stream: {
      none: round(heldMb('none'), 1),
      affiliate: round(heldMb('affiliate'), 1),
      partner: round(heldMb('partner'), 1),
    },
    partner_share_of_isolate_memory: round(heldMb('partner') / PUBLISHED.isolateMemoryMb.value, 3),
    part_puts_per_second_today: round(partsPerSecond),
    part_puts_per_hour_usd_today: round(partPutsPerHour),
    part_reads_per_second: round(partReadsPerSecond),
    part_reads_r2_per_hour_usd_today: round(r2GetsPerHour),
    part_reads_object_per_hour_usd: round(objectReadsPerHour),
    sqlite_ring_per_hour_usd: round(sqliteRingPerHour),
    saving_per_hour_usd_memory: round(partPutsPerHour + r2GetsPerHour - objectReadsPerHour),
    viral_partner_stream: {
      requests_per_second: round(globalStreamRequests),
      parts_out_mbps: round(tiers * ladderMbps('partner')),
      budget: PUBLISHED.doSoftLimit.value,
    },
    commits_per_second_each: round(commitsPerStream, 1),
  };
}

export function computeCapacity() {
  const streams = SEED.streams.value;
  const viewers = SEED.viewers.value;
  const mix = ASSUMED.tierMix;
  const cores =
    streams *
    (mix.partner * MEASURED.cores.partner.value +
      mix.affiliate * MEASURED.cores.affiliate.value +
      mix.none * MEASURED.cores.none.value);
  const nodes = Math.ceil(cores / (ASSUMED.nodeCores.value * 0.7));
  const renditions = ASSUMED.renditionsMean.value;

  // Playback requests: an LL-HLS player asks for a playlist and a part every 200 ms.
  const viewerReqPerSecond = viewers * (ASSUMED.llhlsShare.value * 10 + (1 - ASSUMED.llhlsShare.value) * 0.5);
  const egressGbps = (viewers * SEED.egressMbps.value) / 1000;
  const gbPerHour = (egressGbps / 8) * HOUR;
  const cdnPerHour = gbPerHour * SEED.cdnPerGb.value;
  const viewerHourGb = (SEED.egressMbps.value * HOUR) / 8 / 1000;

  // R2 writes: every part and every segment of every rendition is a PUT.
  const r2PutsPerSecond = streams * renditions * (5 + 0.5);
  const r2PutsPerHourCost = (r2PutsPerSecond * HOUR * PUBLISHED.r2ClassA.value) / 1e6;
  // The design change of docs/capacity.md: parts stay in the LiveStream object and the edge cache,
  // only segments are written to R2 (the VOD needs them).
  const r2SegmentPutsPerSecond = streams * renditions * 0.5;
  const r2SegmentPutsPerHourCost = (r2SegmentPutsPerSecond * HOUR * PUBLISHED.r2ClassA.value) / 1e6;
  // LiveStream commits: one RPC per part and segment (the ingest path), plus held blocking requests.
  const commitsPerStream = renditions * 5.5;
  const partsIn = computePartsInObject(streams, renditions, commitsPerStream);

  // Requests that invoke the Worker, by edge-cache hit ratio, and what they cost per hour.
  const workerCostPerHour = (hit: number) =>
    (viewerReqPerSecond * (1 - hit) * HOUR * PUBLISHED.workerPerM.value) / 1e6;

  // Blocking playlist collapse: per location one request per (rendition, part) reaches the object.
  const collapse = [1_000, 10_000, 50_000, 100_000, 500_000].map((audience) => {
    const locations = Math.min(ASSUMED.colos.value, Math.ceil(audience / 200));
    const direct = locations * renditions * 5 + commitsPerStream;
    const tiered = Math.min(locations, ASSUMED.upperTiers.value) * renditions * 5 + commitsPerStream;
    const uncollapsed = audience * ASSUMED.llhlsShare.value * 5 + commitsPerStream;
    return {
      audience,
      locations,
      uncollapsed: round(uncollapsed),
      per_location: round(direct),
      tiered: round(tiered),
    };
  });

  // Chat: one room per channel; shards hold 500 sockets; the room fans out 10 batches/s per shard.
  const topViewers = 200_000;
  const topShards = Math.ceil(topViewers / ASSUMED.chatShardSockets.value);
  const roomRpcToday = SEED.chatTop.value + topShards * MEASURED.roomBatchesPerSecond.value;
  const roomRpcShardBatched = topShards * MEASURED.roomBatchesPerSecond.value * 2;
  // Two levels, as built (chat/shard-fanout.ts, chat-shard/submit-batcher.ts): the room calls the
  // first shard of each group of 20, which relays the batch to the other 19; shards past the first
  // group send their users' messages through their group's first shard. Callers of the room: the
  // first group's 20 shards, one per later group, and the IRC pool's 16, each with one call in
  // flight; assumed one call per 100 ms batch rhythm each once the room is busy (a call waits for
  // the room's answer, so the calls never exceed what the room answers).
  const relays = Math.ceil(topShards / 20);
  const roomCallers = 20 + (relays - 1) + 16;
  const roomRpcTwoLevel =
    relays * MEASURED.roomBatchesPerSecond.value + roomCallers * MEASURED.roomBatchesPerSecond.value;
  // A relay: 19 deliveries per batch out, and the calls of its 19 group shards in, plus its own.
  const relayRpc = 19 * MEASURED.roomBatchesPerSecond.value + 20 * MEASURED.roomBatchesPerSecond.value;
  // Every viewer socket gets at most one frame per room batch (10/s), whatever the message rate.
  const chatShards = Math.ceil(viewers / ASSUMED.chatShardSockets.value);
  const framesPerShard = ASSUMED.chatShardSockets.value * MEASURED.roomBatchesPerSecond.value;

  const transcodePerHour = cores * ASSUMED.coreHour.value;
  const totalPerHourBestCase = transcodePerHour + r2SegmentPutsPerHourCost + workerCostPerHour(0.99);
  const viewerHours = viewers;
  return {
    seed: SEED,
    published: PUBLISHED,
    assumed: ASSUMED,
    measured: MEASURED,
    results: {
      transcode: { cores: round(cores), nodes, per_hour_usd: round(transcodePerHour), source: 'derived' },
      egress: {
        gbps: round(egressGbps),
        gb_per_hour: round(gbPerHour),
        cdn_per_hour_usd: round(cdnPerHour),
        per_viewer_hour_gb: viewerHourGb,
      },
      requests: {
        viewer_requests_per_second: round(viewerReqPerSecond),
        worker_cost_per_hour_usd: {
          hit_0_90: round(workerCostPerHour(0.9)),
          hit_0_99: round(workerCostPerHour(0.99)),
          hit_0_999: round(workerCostPerHour(0.999)),
        },
      },
      r2: {
        puts_per_second: round(r2PutsPerSecond),
        puts_per_hour_usd: round(r2PutsPerHourCost),
        segment_puts_per_second: round(r2SegmentPutsPerSecond),
        segment_puts_per_hour_usd: round(r2SegmentPutsPerHourCost),
      },
      parts_in_object: partsIn,
      live_stream_objects: {
        objects: streams,
        commits_per_second_each: round(commitsPerStream, 1),
        collapse,
      },
      chat: {
        top_channel_shards: topShards,
        room_rpc_per_second_today: roomRpcToday,
        room_rpc_per_second_shard_batched: roomRpcShardBatched,
        room_rpc_per_second_two_level: roomRpcTwoLevel,
        relay_rpc_per_second: relayRpc,
        relays,
        room_budget: PUBLISHED.doSoftLimit.value,
        shards_global: chatShards,
        frames_per_second_per_shard: framesPerShard,
      },
      per_viewer_hour_usd: {
        platform_compute_and_storage: round(totalPerHourBestCase / viewerHours, 5),
        cdn_seed: round(viewerHourGb * SEED.cdnPerGb.value, 4),
        cloudflare_stream: round((60 / 1000) * PUBLISHED.streamPer1000Min.value, 4),
        ivs: PUBLISHED.ivsViewerHour.value,
      },
      monthly_usd: {
        transcode: round(transcodePerHour * MONTH_HOURS),
        r2_puts_today: round(r2PutsPerHourCost * MONTH_HOURS),
        r2_segment_puts_only: round(r2SegmentPutsPerHourCost * MONTH_HOURS),
        workers_at_99_percent_hits: round(workerCostPerHour(0.99) * MONTH_HOURS),
        cdn_at_seed_price: round(cdnPerHour * MONTH_HOURS),
      },
    },
  };
}

function printTable(title: string, rows: [string, string, string][]): void {
  process.stdout.write(`\n${title}\n`);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  for (const row of rows)
    process.stdout.write(`  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}\n`);
}

const usd = (n: number) => `$${Math.round(n).toLocaleString('en-US')}`;

export function printCapacity(): void {
  const model = computeCapacity();
  const r = model.results;
  printTable(
    'capacity at the seed scale (100K streams, 50M viewers, 500K chat msg/s, 50K msg/s top channel)',
    [
      ['figure', 'value', 'source'],
      [
        'x264 cores (tier mix 1/10/89 %)',
        `${r.transcode.cores.toLocaleString('en-US')} cores, ${r.transcode.nodes.toLocaleString('en-US')} nodes of 32`,
        'measured cores/stream × assumed mix',
      ],
      [
        'viewer requests/s',
        r.requests.viewer_requests_per_second.toLocaleString('en-US'),
        'assumed 80 % LL-HLS × 10 req/s',
      ],
      [
        'R2 PUTs/s (parts + segments)',
        r.r2.puts_per_second.toLocaleString('en-US'),
        'derived: 2.3 renditions × 5.5/s',
      ],
      [
        'LiveStream objects / commits each',
        `${r.live_stream_objects.objects.toLocaleString('en-US')} / ${r.live_stream_objects.commits_per_second_each}/s`,
        'derived',
      ],
      [
        'top-channel room RPC/s, a call per message (before)',
        `${r.chat.room_rpc_per_second_today.toLocaleString('en-US')} (budget ${r.chat.room_budget})`,
        'saturates first',
      ],
      [
        'top-channel room RPC/s, shards batched, no relays',
        `${r.chat.room_rpc_per_second_shard_batched.toLocaleString('en-US')}`,
        'still over budget',
      ],
      [
        'top-channel room / relay RPC/s, 2 levels',
        `${r.chat.room_rpc_per_second_two_level} / ${r.chat.relay_rpc_per_second} (${r.chat.relays} relays)`,
        'built: relays both ways (docs/capacity.md)',
      ],
      [
        'chat shards (global) / frames/s each',
        `${r.chat.shards_global.toLocaleString('en-US')} / ${r.chat.frames_per_second_per_shard.toLocaleString('en-US')}`,
        '500 sockets × 10 batches/s',
      ],
    ],
  );
  printTable(
    'requests/s reaching one LiveStream object (2.3 renditions × 5 parts/s per location, + commits); budget ~1,000/s',
    [
      ['viewers', 'no collapse', 'per location / tiered'],
      ...r.live_stream_objects.collapse.map((c): [string, string, string] => [
        c.audience.toLocaleString('en-US'),
        `${c.uncollapsed.toLocaleString('en-US')}/s`,
        `${c.per_location.toLocaleString('en-US')}/s (${c.locations} loc.) / ${c.tiered}/s`,
      ]),
    ],
  );
  const p = r.parts_in_object;
  printTable('parts kept in the LiveStream object instead of R2 (design change 2)', [
    ['figure', 'value', 'source'],
    [
      'ladder / newest 6 s of parts held, none · affiliate · partner',
      `${p.ladder_mbps.none} · ${p.ladder_mbps.affiliate} · ${p.ladder_mbps.partner} Mbit/s / ${p.held_mb_per_stream.none} · ${p.held_mb_per_stream.affiliate} · ${p.held_mb_per_stream.partner} MB`,
      'ladder.ts × the HLS part window',
    ],
    [
      'part PUTs today',
      `${p.part_puts_per_second_today.toLocaleString('en-US')}/s, ${usd(p.part_puts_per_hour_usd_today)}/h`,
      'R2 Class A',
    ],
    [
      'part reads at the upper tiers',
      `${p.part_reads_per_second.toLocaleString('en-US')}/s: R2 ${usd(p.part_reads_r2_per_hour_usd_today)}/h today, object ${usd(p.part_reads_object_per_hour_usd)}/h`,
      'assumed 3 upper tiers per stream',
    ],
    ['held in SQLite instead of memory', `${usd(p.sqlite_ring_per_hour_usd)}/h`, 'rows written'],
    ['saving, parts in memory', `${usd(p.saving_per_hour_usd_memory)}/h`, 'derived'],
    [
      'viral partner stream, one object',
      `${p.viral_partner_stream.requests_per_second} req/s, ${p.viral_partner_stream.parts_out_mbps} Mbit/s of parts out (budget ${p.viral_partner_stream.budget} req/s)`,
      '12 upper tiers × 6 renditions',
    ],
  ]);
  printTable('cost per hour and per viewer-hour', [
    ['item', 'per hour', 'per viewer-hour'],
    ['transcoding (x264 nodes)', usd(r.transcode.per_hour_usd), ''],
    [
      'R2 PUTs today / segments only',
      `${usd(r.r2.puts_per_hour_usd)} / ${usd(r.r2.segment_puts_per_hour_usd)}`,
      '',
    ],
    [
      'Workers at 90 / 99 / 99.9 % CDN hits',
      `${usd(r.requests.worker_cost_per_hour_usd.hit_0_90)} / ${usd(r.requests.worker_cost_per_hour_usd.hit_0_99)} / ${usd(r.requests.worker_cost_per_hour_usd.hit_0_999)}`,
      '',
    ],
    [
      'platform total (99 % hits, segments-only R2)',
      '',
      `$${r.per_viewer_hour_usd.platform_compute_and_storage}`,
    ],
    [
      'CDN at the seed price ($0.03/GB)',
      usd(r.egress.cdn_per_hour_usd),
      `$${r.per_viewer_hour_usd.cdn_seed}`,
    ],
    ['Cloudflare Stream ($1/1000 min)', '', `$${r.per_viewer_hour_usd.cloudflare_stream}`],
    ['Amazon IVS (HD output)', '', `$${r.per_viewer_hour_usd.ivs}`],
  ]);
  const m = r.monthly_usd;
  printTable('per month (730 h at peak: an upper bound)', [
    ['item', 'per month', ''],
    ['transcoding', usd(m.transcode), ''],
    ['R2 PUTs today / segments only', `${usd(m.r2_puts_today)} / ${usd(m.r2_segment_puts_only)}`, ''],
    ['Workers (99 % CDN hits)', usd(m.workers_at_99_percent_hits), ''],
    ['CDN at the seed price', usd(m.cdn_at_seed_price), ''],
  ]);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'capacity.json'), `${JSON.stringify(model, null, 2)}\n`);
  process.stdout.write(
    `\nmodel and sources in ${join(RESULTS, 'capacity.json')}; explained in docs/capacity.md\n`,
  );
}

if (import.meta.filename === process.argv[1]) printCapacity();
