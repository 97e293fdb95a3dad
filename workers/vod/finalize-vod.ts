// Turns an ended live stream into its past broadcast: playlists (HLS per rendition, multivariant,
// DASH) written to R2 over the segments already there, and the D1 vods row. Runs from the
// stream.ended consumer; a redelivery finds the row (or rewrites the same keys under the same
// deterministic VOD id), so one stream makes one VOD. The segment index is copied out of the
// LiveStream object into R2 (vod-index.ts) before the object forgets the stream's rows.
import { z } from 'zod';
import { encodeHex } from '../../common/hashing.ts';
import { log } from '../../common/log.ts';
import type { LiveStream } from '../../durable-objects/live-stream/live-stream.ts';
import {
  type DashRun,
  describeRun,
  getRunKey,
  planDashPeriods,
  renderDashManifest,
} from '../../media/dash/manifest.ts';
import { renderMultivariantPlaylist } from '../../media/hls/multivariant-playlist.ts';
import {
  describeRuns,
  measureBandwidth,
  renderVodMediaPlaylist,
  sumDurations,
  type VodRendition,
} from '../../media/hls/vod-playlist.ts';
import { getInitKey, getSegmentKey, getThumbnailKey } from '../../media/live-keys.ts';
import { readInit } from '../../media/mp4/init.ts';
import {
  getRenditionPrefix,
  getVodManifestKey,
  getVodMasterKey,
  getVodPlaybackPath,
  getVodPlaylistKey,
  getVodThumbnailPath,
} from '../../media/vod-keys.ts';
import { RENDITION_NAMES, RenditionName } from '../../protocol/ingest.ts';
import type { RenditionInfo, VodSegment } from '../../protocol/media.ts';
import { listObjects } from './r2-storage.ts';
import { readVodIndex, writeVodIndex } from './vod-index.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** The head of a segment read for its first moof; a 1080p moof is a few KB. */
const SEGMENT_HEAD_BYTES = 64 * 1024;
const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

const StreamRow = z.object({
  id: z.string(),
  channel_id: z.string(),
  title: z.string(),
  renditions: z.string(),
});

/** A UUID derived from the stream id: every delivery of stream.ended names the same VOD. */
export async function deriveVodId(streamId: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`vod:${streamId}`)),
  );
  const bytes = digest.slice(0, 16);
  // RFC 9562 version 8 (custom), variant 10.
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = encodeHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The rendition clips are cut from and the VOD's clock follows: the best video, else audio. */
export function pickReferenceRendition(names: readonly RenditionName[]): RenditionName | null {
  return RENDITION_NAMES.find((name) => names.includes(name)) ?? null;
}

function orderRenditions(names: Iterable<RenditionName>): RenditionName[] {
  const set = new Set(names);
  return RENDITION_NAMES.filter((name) => set.has(name));
}

async function readBytes(bucket: R2Bucket, key: string, length?: number): Promise<Uint8Array | null> {
  const object = await bucket.get(key, length === undefined ? {} : { range: { offset: 0, length } });
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

/** Facts the multivariant playlist needs, read from the init segment when the DO no longer has them. */
async function describeFromInit(
  bucket: R2Bucket,
  streamId: string,
  name: RenditionName,
  segments: readonly VodSegment[],
): Promise<RenditionInfo> {
  const first = segments[0];
  const bytes = first ? await readBytes(bucket, getInitKey(streamId, name, first.init)) : null;
  const tracks = bytes ? readInit(bytes).tracks : [];
  const video = tracks.find((t) => t.handler === 'vide');
  const ordered = video ? [video, ...tracks.filter((t) => t !== video)] : tracks;
  const { peak, average } = measureBandwidth(segments);
  return {
    name,
    codecs:
      ordered
        .map((t) => t.codec)
        .filter((c) => c !== '')
        .join(',') || 'mp4a.40.2',
    bandwidth: Math.max(1, peak),
    averageBandwidth: Math.max(1, average),
    width: video?.width ?? null,
    height: video?.height ?? null,
    frameRate: null,
  };
}

/**
 * The tracks of each rendition in each DASH Period (their codecs and presentationTimeOffset), read
 * from the run's init and the head of its first segment.
 */
async function readDashRuns(
  bucket: R2Bucket,
  streamId: string,
  renditions: readonly VodRendition[],
): Promise<Map<string, DashRun>> {
  const runs = new Map<string, DashRun>();
  for (const period of planDashPeriods(renditions)) {
    for (const { rendition, segments } of period.representations) {
      const name = rendition.info.name;
      const first = segments[0];
      if (!first) continue;
      const [init, head] = await Promise.all([
        readBytes(bucket, getInitKey(streamId, name, first.init)),
        readBytes(bucket, getSegmentKey(streamId, name, first.msn), SEGMENT_HEAD_BYTES),
      ]);
      if (!init || !head) continue;
      try {
        runs.set(getRunKey(name, first.msn), describeRun(init, head));
      } catch (error) {
        // Bytes that are not CMAF (a broken upload) cost the MPD that Representation, not the VOD.
        log.warn('vod_segment_head_unreadable', { stream_id: streamId, rendition: name, error });
      }
    }
  }
  return runs;
}

/**
 * Every rendition's listed segments whose bytes reached R2, from the LiveStream object. GAP
 * stand-ins have no media and are left out: the hole they leave splits the run there.
 */
async function collectRenditions(
  env: Env,
  live: DurableObjectStub<LiveStream>,
  streamId: string,
  renditionsJson: string,
): Promise<VodRendition[]> {
  const summary = await live.getSummary();
  // The DO describes the renditions of its current stream only; after a newer stream started,
  // the init segments in R2 describe them instead.
  const liveInfos = summary.stream_id === streamId ? await live.getRenditions() : [];
  const listed = z.array(RenditionName).catch([]).parse(JSON.parse(renditionsJson));
  const names = orderRenditions([...listed, ...liveInfos.map((info) => info.name)]);
  const renditions: VodRendition[] = [];
  for (const name of names) {
    const [index, objects] = await Promise.all([
      live.getSegmentIndex(name, streamId),
      listObjects(env.MEDIA, getRenditionPrefix(streamId, name)),
    ]);
    const segments: VodSegment[] = [];
    for (const entry of index) {
      const size = objects.get(getSegmentKey(streamId, name, entry.msn));
      if (entry.gap || size === undefined) continue;
      segments.push({
        msn: entry.msn,
        duration: entry.duration,
        pdt: entry.pdt,
        discontinuity: entry.discontinuity,
        init: entry.init,
        size,
      });
    }
    if (segments.length === 0) continue;
    const info =
      liveInfos.find((i) => i.name === name) ?? (await describeFromInit(env.MEDIA, streamId, name, segments));
    renditions.push({ info, segments });
  }
  return renditions;
}

export interface FinalizeOptions {
  now: number;
  retentionDays: number;
}

/**
 * Builds the VOD of an ended stream. Returns the D1 statements that record it (the caller commits
 * them with its dedupe row); [] when the VOD exists already or the stream left no media.
 */
export async function finalizeVod(
  env: Env,
  streamId: string,
  options: FinalizeOptions,
): Promise<D1PreparedStatement[]> {
  const db = env.DB;
  const found = await db
    .prepare('SELECT id, channel_id, title, renditions FROM streams WHERE id = ?')
    .bind(streamId)
    .first();
  if (!found) return [];
  const stream = StreamRow.parse(found);
  if (await db.prepare('SELECT 1 FROM vods WHERE stream_id = ?').bind(streamId).first()) return [];

  const live = env.LIVE_STREAM.getByName(stream.channel_id);
  const vodId = await deriveVodId(streamId);
  // A retried finalization (its D1 batch failed after the object forgot the rows) reads the copy.
  const renditions =
    (await readVodIndex(env.MEDIA, vodId)) ??
    (await collectRenditions(env, live, streamId, stream.renditions));
  const reference = renditions[0];
  const firstSegment = reference?.segments[0];
  if (!reference || !firstSegment) {
    log.warn('vod_skipped_no_media', { stream_id: streamId });
    await live.forgetStream(streamId);
    return [];
  }
  await writeVodIndex(env.MEDIA, vodId, streamId, renditions);

  const playlistOptions = { httpMetadata: { contentType: PLAYLIST_TYPE } };
  await Promise.all(
    renditions.map((r) =>
      env.MEDIA.put(
        getVodPlaylistKey(vodId, r.info.name),
        renderVodMediaPlaylist(r.info.name, r.segments),
        playlistOptions,
      ),
    ),
  );
  const dashRuns = await readDashRuns(env.MEDIA, streamId, renditions);
  await env.MEDIA.put(getVodManifestKey(vodId), renderDashManifest({ renditions, runs: dashRuns }), {
    httpMetadata: { contentType: 'application/dash+xml' },
  });
  // The multivariant playlist goes last: once it exists, everything it points at does.
  await env.MEDIA.put(
    getVodMasterKey(vodId),
    renderMultivariantPlaylist(renditions.map((r) => r.info)),
    playlistOptions,
  );

  // The index is in R2 now: the object's rows for this stream are no longer needed.
  await live.forgetStream(streamId);

  const hasThumbnail = (await env.MEDIA.head(getThumbnailKey(streamId))) !== null;
  const duration = sumDurations(reference.segments);
  const runs = describeRuns(reference.segments);
  const now = options.now;
  return [
    db
      .prepare(
        `INSERT INTO vods (id, stream_id, channel_id, title, duration_seconds, thumbnail_url, status, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, ?) ON CONFLICT (stream_id) DO NOTHING`,
      )
      .bind(
        vodId,
        streamId,
        stream.channel_id,
        stream.title,
        duration,
        hasThumbnail ? getVodThumbnailPath(vodId) : null,
        now,
        now + options.retentionDays * DAY_MS,
      ),
    db
      .prepare(
        `INSERT INTO vod_timelines (vod_id, stream_id, first_pdt, runs, renditions, clip_rendition)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vod_id) DO NOTHING`,
      )
      .bind(
        vodId,
        streamId,
        firstSegment.pdt,
        JSON.stringify(runs),
        JSON.stringify(renditions.map((r) => r.info.name)),
        reference.info.name,
      ),
    db.prepare('UPDATE streams SET vod_url = ? WHERE id = ?').bind(getVodPlaybackPath(vodId), streamId),
  ];
}
