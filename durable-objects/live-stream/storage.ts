// The LiveStream object's SQLite: one row for the current stream, one per rendition, one per
// segment and one per recent part, so a restarted object resumes and the VOD can be built from it.
// Every row read back is zod-parsed. The tables are created by the first publish, never by a stray
// playback request (a channel that never streamed leaves no stored object behind).
import { z } from 'zod';
import type { Interstitial } from '../../media/hls/interstitials.ts';
import {
  applyPart,
  createTimeline,
  type SegmentEntry,
  type Timeline,
  takeUnbrokenRun,
} from '../../media/hls/timeline.ts';
import { ChannelTier, RenditionName } from '../../protocol/ingest.ts';
import { RenditionInfo, type SegmentRecord } from '../../protocol/media.ts';
import { Phase, type StreamRecord } from './types.ts';

/** Parts rows older than this many segments behind the live edge are not needed to resume. */
export const PART_ROWS_KEPT_SEGMENTS = 8;

const StreamRow = z.object({
  stream_id: z.string(),
  channel_id: z.string(),
  tier: ChannelTier,
  phase: Phase,
  publish_id: z.string().nullable(),
  dropped_at: z.number().nullable(),
  started_at: z.number().nullable(),
  ended_at: z.number().nullable(),
  discontinuities: z.number(),
  has_thumbnail: z.number(),
  live_announced: z.number(),
  trace_id: z.string().nullable(),
});

const RenditionRow = z.object({
  rendition: RenditionName,
  info: z.string(),
  part_target: z.number(),
  init_count: z.number(),
});

const SegmentRow = z.object({
  rendition: RenditionName,
  msn: z.number(),
  duration: z.number(),
  pdt: z.number(),
  discontinuity: z.number(),
  init: z.number(),
  gap: z.number(),
});

const PartRow = z.object({
  rendition: RenditionName,
  msn: z.number(),
  part: z.number(),
  duration: z.number(),
  independent: z.number(),
  pdt: z.number(),
  publish: z.number(),
});

const SCHEMA = `
CREATE TABLE IF NOT EXISTS stream (
  id INTEGER PRIMARY KEY CHECK (id = 1), stream_id TEXT NOT NULL, channel_id TEXT NOT NULL,
  tier TEXT NOT NULL, phase TEXT NOT NULL, publish_id TEXT, dropped_at INTEGER, started_at INTEGER,
  ended_at INTEGER, discontinuities INTEGER NOT NULL, has_thumbnail INTEGER NOT NULL,
  live_announced INTEGER NOT NULL DEFAULT 0, trace_id TEXT);
CREATE TABLE IF NOT EXISTS renditions (
  stream_id TEXT NOT NULL, rendition TEXT NOT NULL, info TEXT NOT NULL, part_target REAL NOT NULL,
  init_count INTEGER NOT NULL, PRIMARY KEY (stream_id, rendition));
CREATE TABLE IF NOT EXISTS segments (
  stream_id TEXT NOT NULL, rendition TEXT NOT NULL, msn INTEGER NOT NULL, duration REAL NOT NULL,
  pdt INTEGER NOT NULL, discontinuity INTEGER NOT NULL, init INTEGER NOT NULL, gap INTEGER NOT NULL,
  PRIMARY KEY (stream_id, rendition, msn));
CREATE TABLE IF NOT EXISTS parts (
  stream_id TEXT NOT NULL, rendition TEXT NOT NULL, msn INTEGER NOT NULL, part INTEGER NOT NULL,
  duration REAL NOT NULL, independent INTEGER NOT NULL, pdt INTEGER NOT NULL,
  publish INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (stream_id, rendition, msn, part));
CREATE TABLE IF NOT EXISTS ad_breaks (
  stream_id TEXT NOT NULL, id TEXT NOT NULL, start_ms INTEGER NOT NULL, duration_s INTEGER NOT NULL,
  asset_list_uri TEXT NOT NULL, PRIMARY KEY (stream_id, id));
`;

const AdBreakRow = z.object({
  id: z.string(),
  start_ms: z.number(),
  duration_s: z.number(),
  asset_list_uri: z.string(),
});

/** Columns added after the first release: objects created before them get them on load. */
const ADDED_COLUMNS = [
  {
    table: 'stream',
    column: 'live_announced',
    add: 'ALTER TABLE stream ADD COLUMN live_announced INTEGER NOT NULL DEFAULT 0',
    // Streams that went live before the flag existed were announced then.
    backfill: 'UPDATE stream SET live_announced = 1 WHERE started_at IS NOT NULL',
  },
  {
    table: 'stream',
    column: 'trace_id',
    add: 'ALTER TABLE stream ADD COLUMN trace_id TEXT',
    backfill: null,
  },
  {
    table: 'parts',
    column: 'publish',
    add: 'ALTER TABLE parts ADD COLUMN publish INTEGER NOT NULL DEFAULT 0',
    backfill: null,
  },
] as const;

function toSegmentRecord(row: z.infer<typeof SegmentRow>): SegmentRecord {
  return {
    msn: row.msn,
    duration: row.duration,
    pdt: row.pdt,
    discontinuity: row.discontinuity === 1,
    init: row.init,
    gap: row.gap === 1,
  };
}

/** What loadState gives back: the current stream and its renditions' timelines, in ladder order. */
export interface StoredState {
  record: StreamRecord;
  timelines: Array<[RenditionName, Timeline]>;
  /** The stream's ad breaks, oldest first (docs/payments.md, "Ads"). */
  interstitials: Interstitial[];
}

export class LiveStreamStorage {
  readonly #sql: SqlStorage;
  #hasSchema = false;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get hasSchema(): boolean {
    return this.#hasSchema;
  }

  /** Whether an earlier publish created the tables; reading sqlite_master writes nothing. */
  exists(): boolean {
    return (
      this.#sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'stream'").toArray()
        .length > 0
    );
  }

  /** Creates the tables (the first publish) and adds the columns newer code expects. */
  ensureSchema(): void {
    if (this.#hasSchema) return;
    this.#sql.exec(SCHEMA);
    for (const change of ADDED_COLUMNS) {
      const columns = this.#sql.exec(`PRAGMA table_info(${change.table})`).toArray();
      if (columns.some((column) => column.name === change.column)) continue;
      this.#sql.exec(change.add);
      if (change.backfill) this.#sql.exec(change.backfill);
    }
    this.#hasSchema = true;
  }

  saveRecord(r: StreamRecord): void {
    this.#sql.exec(
      `INSERT OR REPLACE INTO stream (id, stream_id, channel_id, tier, phase, publish_id, dropped_at, started_at, ended_at, discontinuities, has_thumbnail, live_announced, trace_id)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.streamId,
      r.channelId,
      r.tier,
      r.phase,
      r.publishId,
      r.droppedAt,
      r.startedAt,
      r.endedAt,
      r.discontinuities,
      r.hasThumbnail ? 1 : 0,
      r.liveAnnounced ? 1 : 0,
      r.traceId,
    );
  }

  saveRendition(streamId: string, rendition: RenditionName, timeline: Timeline): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO renditions (stream_id, rendition, info, part_target, init_count) VALUES (?, ?, ?, ?, ?)',
      streamId,
      rendition,
      JSON.stringify(timeline.info),
      timeline.partTarget,
      timeline.initCount,
    );
  }

  savePart(
    streamId: string,
    rendition: RenditionName,
    part: { msn: number; part: number; duration: number; independent: boolean; pdt: number; publish: number },
  ): void {
    this.#sql.exec(
      'INSERT OR REPLACE INTO parts (stream_id, rendition, msn, part, duration, independent, pdt, publish) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      streamId,
      rendition,
      part.msn,
      part.part,
      part.duration,
      part.independent ? 1 : 0,
      part.pdt,
      part.publish,
    );
  }

  /** Stores newly listed segments and forgets part rows no resume needs any more. */
  saveSegments(streamId: string, rendition: RenditionName, entries: readonly SegmentEntry[]): void {
    for (const s of entries) {
      this.#sql.exec(
        'INSERT OR REPLACE INTO segments (stream_id, rendition, msn, duration, pdt, discontinuity, init, gap) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        streamId,
        rendition,
        s.msn,
        s.duration,
        s.pdt,
        s.discontinuity ? 1 : 0,
        s.init,
        s.gap ? 1 : 0,
      );
    }
    const last = entries.at(-1);
    if (last) {
      this.#sql.exec(
        'DELETE FROM parts WHERE stream_id = ? AND rendition = ? AND msn < ?',
        streamId,
        rendition,
        last.msn - PART_ROWS_KEPT_SEGMENTS,
      );
    }
  }

  /** The previous stream's part rows only served resuming it; its segment rows stay for the VOD. */
  deleteParts(streamId: string): void {
    this.#sql.exec('DELETE FROM parts WHERE stream_id = ?', streamId);
    this.#sql.exec('DELETE FROM ad_breaks WHERE stream_id = ?', streamId);
  }

  /**
   * Keeps an ad break with its stream, so an object that restarts mid-break still lists it; breaks
   * that ended before `keepAfterMs` (out of the DVR window) go.
   */
  saveAdBreak(streamId: string, ad: Interstitial, keepAfterMs: number): void {
    this.#sql.exec(
      'DELETE FROM ad_breaks WHERE stream_id = ? AND start_ms + duration_s * 1000 < ?',
      streamId,
      keepAfterMs,
    );
    this.#sql.exec(
      'INSERT OR REPLACE INTO ad_breaks (stream_id, id, start_ms, duration_s, asset_list_uri) VALUES (?, ?, ?, ?, ?)',
      streamId,
      ad.id,
      ad.startMs,
      ad.durationSeconds,
      ad.assetListUri,
    );
  }

  /** Every stored segment of a rendition of `streamId`, oldest first. */
  readSegmentIndex(streamId: string, rendition: RenditionName): SegmentRecord[] {
    if (!this.#hasSchema) return [];
    return this.#sql
      .exec(
        'SELECT rendition, msn, duration, pdt, discontinuity, init, gap FROM segments WHERE stream_id = ? AND rendition = ? ORDER BY msn',
        streamId,
        rendition,
      )
      .toArray()
      .map((row) => toSegmentRecord(SegmentRow.parse(row)));
  }

  /** The VOD keeps its own copy of the segment index now: the stream's rows go. */
  forgetStream(streamId: string): void {
    if (!this.#hasSchema) return;
    this.#sql.exec('DELETE FROM segments WHERE stream_id = ?', streamId);
    this.#sql.exec('DELETE FROM parts WHERE stream_id = ?', streamId);
    this.#sql.exec('DELETE FROM renditions WHERE stream_id = ?', streamId);
    this.#sql.exec('DELETE FROM ad_breaks WHERE stream_id = ?', streamId);
  }

  /** Rebuilds the current stream and its timelines (once, under blockConcurrencyWhile). */
  load(): StoredState | null {
    const row = this.#sql.exec('SELECT * FROM stream WHERE id = 1').toArray()[0];
    if (!row) return null;
    const stored = StreamRow.parse(row);
    const record: StreamRecord = {
      streamId: stored.stream_id,
      channelId: stored.channel_id,
      tier: stored.tier,
      phase: stored.phase,
      publishId: stored.publish_id,
      droppedAt: stored.dropped_at,
      startedAt: stored.started_at,
      endedAt: stored.ended_at,
      discontinuities: stored.discontinuities,
      hasThumbnail: stored.has_thumbnail === 1,
      liveAnnounced: stored.live_announced === 1,
      traceId: stored.trace_id,
    };
    const streamId = stored.stream_id;
    const timelines = new Map<RenditionName, Timeline>();
    for (const raw of this.#sql.exec(
      'SELECT rendition, info, part_target, init_count FROM renditions WHERE stream_id = ?',
      streamId,
    )) {
      const rendition = RenditionRow.parse(raw);
      const info = RenditionInfo.parse(JSON.parse(rendition.info));
      const timeline = createTimeline(info, rendition.part_target);
      timeline.initCount = rendition.init_count;
      timelines.set(rendition.rendition, timeline);
    }
    for (const raw of this.#sql.exec(
      'SELECT rendition, msn, duration, pdt, discontinuity, init, gap FROM segments WHERE stream_id = ? ORDER BY msn',
      streamId,
    )) {
      const s = SegmentRow.parse(raw);
      const timeline = timelines.get(s.rendition);
      if (!timeline) continue;
      timeline.segments.push({ ...toSegmentRecord(s), parts: [] });
      timeline.nextMsn = s.msn + 1;
    }
    for (const raw of this.#sql.exec(
      'SELECT rendition, msn, part, duration, independent, pdt, publish FROM parts WHERE stream_id = ? ORDER BY msn, part',
      streamId,
    )) {
      const p = PartRow.parse(raw);
      const timeline = timelines.get(p.rendition);
      if (!timeline) continue;
      const entry = {
        part: p.part,
        duration: p.duration,
        independent: p.independent === 1,
        pdt: p.pdt,
        publish: p.publish,
      };
      // Part rows only cover the last few segments, so the search from the end is short.
      const segment = timeline.segments.findLast((s) => s.msn === p.msn);
      if (segment) segment.parts.push(entry);
      else applyPart(timeline, { msn: p.msn, ...entry });
    }
    for (const timeline of timelines.values()) {
      for (const segment of timeline.segments.slice(-PART_ROWS_KEPT_SEGMENTS - 1)) {
        segment.parts = takeUnbrokenRun(segment.parts);
      }
    }
    const interstitials = this.#sql
      .exec(
        'SELECT id, start_ms, duration_s, asset_list_uri FROM ad_breaks WHERE stream_id = ? ORDER BY start_ms',
        streamId,
      )
      .toArray()
      .map((raw) => {
        const row = AdBreakRow.parse(raw);
        return {
          id: row.id,
          startMs: row.start_ms,
          durationSeconds: row.duration_s,
          assetListUri: row.asset_list_uri,
        };
      });
    return { record, timelines: [...timelines], interstitials };
  }
}
