// The live stream of one channel (addressed by channel id): who may publish, the reconnect
// window, every rendition's segment and part timeline, and the LL-HLS playlists rendered from it.
// Blocked playlist and part requests wait here, on promises released by the upload that makes
// them answerable, so nothing polls. The hot state lives in memory, loaded once; SQLite keeps one
// row per part and per segment so a restarted object resumes and the VOD can be built from it;
// once the VOD holds its own copy of the segment index (forgetStream), the stream's rows go.
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import {
  BLOCKING_TIMEOUT_MS,
  canAwaitPart,
  decideBlockingReload,
  findPartPublish,
  isPositionListed,
  type ReloadDirectives,
} from '../../media/hls/blocking-reload.ts';
import { renderMediaPlaylist } from '../../media/hls/live-playlist.ts';
import { renderMultivariantPlaylist } from '../../media/hls/multivariant-playlist.ts';
import {
  applyInit,
  applyPart,
  applySegment,
  createTimeline,
  dropOpenSegments,
  fillGapTo,
  getLastPart,
  hasMedia,
  planSeal,
  type SegmentEntry,
  type Timeline,
  takeUnbrokenRun,
  toRenditionInfo,
  trimToDvrWindow,
} from '../../media/hls/timeline.ts';
import { getPartKey, getSegmentKey, getThumbnailPath } from '../../media/live-keys.ts';
import { createEvent } from '../../protocol/events.ts';
import {
  type AuthorizeResponse,
  type ChannelTier,
  type InitMeta,
  type PartMeta,
  RENDITION_NAMES,
  RenditionName,
  type SegmentMeta,
} from '../../protocol/ingest.ts';
import { RenditionInfo, type SegmentRecord } from '../../protocol/media.ts';

/** A publisher that neither uploads nor heart-beats for this long has dropped. */
const PUBLISHER_TIMEOUT_MS = 10_000;
/** Parts rows older than this many segments behind the live edge are not needed to resume. */
const PART_ROWS_KEPT_SEGMENTS = 8;
/** How soon an end whose D1 update or queue send failed is tried again (the alarm's own retry aside). */
const ENDING_RETRY_MS = 30_000;

/**
 * 'ending': the stream is over for viewers (ENDLIST) but its D1 row and `stream.ended` are not
 * settled yet; the alarm retries until they are, and only then is the phase 'ended'.
 */
type Phase = 'idle' | 'starting' | 'live' | 'reconnecting' | 'ending' | 'ended';

export interface ChannelDefaults {
  title: string;
  category_id: number | null;
  language: string;
  tags: string[];
}

export interface BeginPublishInput {
  channelId: string;
  tier: ChannelTier;
  defaults: ChannelDefaults;
}

export type BeginPublishResult =
  | { ok: true; value: AuthorizeResponse }
  | { ok: false; code: 'already_publishing' };

/** `publish`: the number of this publish within its stream (0, then +1 per reconnect). */
export type PublisherCheck = { ok: true; streamId: string; publish: number } | { ok: false };

/** What settleStream did with a D1 stream row that still says live or pending. */
export type SettleOutcome = 'active' | 'settled' | 'unchanged';

export type PlaylistResult =
  | { status: 200; body: string; blocking: boolean }
  | { status: 400 | 404 | 503; message: string };

export interface StreamSummary {
  stream_id: string | null;
  status: 'idle' | 'live' | 'reconnecting' | 'ended';
  renditions: RenditionInfo[];
  started_at: number | null;
  last_part_at: number | null;
  discontinuities: number;
}

interface StreamRecord {
  streamId: string;
  channelId: string;
  tier: ChannelTier;
  phase: Phase;
  publishId: string | null;
  droppedAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Also the number of the current publish: one more per continued publish. */
  discontinuities: number;
  hasThumbnail: boolean;
  /** The D1 row says live and `stream.started` is queued; retried on each part until it holds. */
  liveAnnounced: boolean;
}

interface Waiter {
  rendition: RenditionName;
  isReady: () => boolean;
  settle: (ready: boolean) => void;
}

const StreamRow = z.object({
  stream_id: z.string(),
  channel_id: z.string(),
  tier: z.enum(['none', 'affiliate', 'partner']),
  phase: z.enum(['idle', 'starting', 'live', 'reconnecting', 'ending', 'ended']),
  publish_id: z.string().nullable(),
  dropped_at: z.number().nullable(),
  started_at: z.number().nullable(),
  ended_at: z.number().nullable(),
  discontinuities: z.number(),
  has_thumbnail: z.number(),
  live_announced: z.number(),
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
  live_announced INTEGER NOT NULL DEFAULT 0);
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
`;

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
    table: 'parts',
    column: 'publish',
    add: 'ALTER TABLE parts ADD COLUMN publish INTEGER NOT NULL DEFAULT 0',
    backfill: null,
  },
] as const;

export class LiveStream extends DurableObject<Env> {
  // Timings are fields, not constants, so tests can shorten them on one instance
  // (runInDurableObject) instead of waiting out real windows.
  /** "Still waiting after 3 × TARGETDURATION → 503." */
  blockingTimeoutMs = BLOCKING_TIMEOUT_MS;
  publisherTimeoutMs = PUBLISHER_TIMEOUT_MS;
  reconnectWindowMs: number;
  dvrWindowSeconds: number;

  private record: StreamRecord | null = null;
  private readonly timelines = new Map<RenditionName, Timeline>();
  private readonly waiters = new Set<Waiter>();
  /**
   * Rendered media playlists by rendition and delta flag, valid until the next timeline change:
   * every viewer blocked on the same part is released at once and gets the same text, rendered once.
   */
  private readonly rendered = new Map<string, string>();
  private lastActivityAt = 0;
  private lastPartAt: number | null = null;
  /** Whether the tables exist: they are created by the first publish, not by any stray request. */
  private hasSchema = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.reconnectWindowMs = Number(env.RECONNECT_WINDOW_SECONDS) * 1000;
    this.dvrWindowSeconds = Number(env.DVR_WINDOW_SECONDS);
    void ctx.blockConcurrencyWhile(async () => {
      // A playback request for a channel that never streamed must not leave a stored object
      // behind: reading sqlite_master writes nothing, CREATE TABLE would.
      const tables = this.ctx.storage.sql
        .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'stream'")
        .toArray();
      if (tables.length === 0) return;
      this.ensureSchema();
      this.loadState();
    });
  }

  // ---- publishing (called by the origin's ingest endpoint) ----

  /**
   * Admits a publisher: continues the stream inside its reconnect window, or starts a new one
   * (reusing a pending D1 row from POST /streams/start). The stream is not live until a part lands.
   */
  async beginPublish(input: BeginPublishInput): Promise<BeginPublishResult> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const now = Date.now();
      if (this.isPublishing()) {
        if (now - this.lastActivityAt < this.publisherTimeoutMs)
          return { ok: false, code: 'already_publishing' };
        await this.dropPublisher(now);
      }
      const record = this.record;
      if (record?.phase === 'reconnecting' && record.droppedAt !== null) {
        if (now - record.droppedAt < this.reconnectWindowMs)
          return { ok: true, value: await this.continuePublish(record, input) };
        await this.endStream();
      }
      // The previous stream's end must be settled before a new stream replaces its record: nothing
      // else would ever send its stream.ended (a failure here fails this publish, to be retried).
      if (record?.phase === 'ending') await this.finishEnding(record);
      return { ok: true, value: await this.startStream(input, now) };
    });
  }

  /**
   * Validates a publish id before an upload's bytes go to R2; gives the R2 key's stream id and
   * publish number. Both never change for a publish id, so the origin may remember them.
   */
  checkPublisher(publishId: string): PublisherCheck {
    if (!this.isCurrentPublisher(publishId) || !this.record) return { ok: false };
    this.lastActivityAt = Date.now();
    return { ok: true, streamId: this.record.streamId, publish: this.record.discontinuities };
  }

  /** Numbers the next init segment of a rendition (init-{n}.mp4); the origin writes it, then commits. */
  reserveInit(
    publishId: string,
    rendition: RenditionName,
  ): { ok: true; streamId: string; publish: number; init: number } | { ok: false } {
    const check = this.checkPublisher(publishId);
    if (!check.ok) return check;
    return { ...check, init: (this.timelines.get(rendition)?.initCount ?? 0) + 1 };
  }

  async commitInit(publishId: string, meta: InitMeta, init: number): Promise<boolean> {
    const record = this.record;
    if (!record || !this.isCurrentPublisher(publishId)) return false;
    this.lastActivityAt = Date.now();
    const info = toRenditionInfo(meta);
    let timeline = this.timelines.get(meta.rendition);
    const isNew = !timeline;
    if (!timeline) {
      // "PART-TARGET never changes during a stream": the first init of the rendition fixes it.
      timeline = createTimeline(info, meta.part_target);
      this.addTimeline(meta.rendition, timeline);
    }
    applyInit(timeline, info, init);
    this.invalidateRendered();
    this.ctx.storage.sql.exec(
      'INSERT OR REPLACE INTO renditions (stream_id, rendition, info, part_target, init_count) VALUES (?, ?, ?, ?, ?)',
      record.streamId,
      meta.rendition,
      JSON.stringify(info),
      timeline.partTarget,
      timeline.initCount,
    );
    if (isNew && record.startedAt !== null) await this.updateRenditionsRow(record);
    return true;
  }

  /**
   * Lists a part the origin has already written to R2 (under this publish's number, see
   * getPartKey). The publisher check happens here, in the same call: false for a publish that is
   * no longer current, whose bytes are then an orphan no playlist names.
   */
  async commitPart(publishId: string, meta: PartMeta): Promise<boolean> {
    const record = this.record;
    if (!record || !this.isCurrentPublisher(publishId)) return false;
    const now = Date.now();
    this.lastActivityAt = now;
    const timeline = this.timelines.get(meta.rendition);
    // A part before its rendition's init cannot be played; the transcoder always sends the init first.
    if (!timeline) return true;
    const publish = record.discontinuities;
    if (applyPart(timeline, { ...meta, publish })) {
      this.lastPartAt = now;
      this.invalidateRendered();
      this.ctx.storage.sql.exec(
        'INSERT OR REPLACE INTO parts (stream_id, rendition, msn, part, duration, independent, pdt, publish) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        record.streamId,
        meta.rendition,
        meta.msn,
        meta.part,
        meta.duration,
        meta.independent ? 1 : 0,
        meta.pdt,
        publish,
      );
      this.releaseWaiters(meta.rendition);
      if (record.startedAt === null) {
        record.startedAt = now;
        record.phase = 'live';
        this.saveRecord();
      }
    }
    // Checked on every part, not only the first: a D1 or queue failure is retried by the next part.
    if (!record.liveAnnounced) await this.announceLive(record);
    return true;
  }

  async commitSegment(publishId: string, meta: SegmentMeta): Promise<boolean> {
    const record = this.record;
    if (!record || !this.isCurrentPublisher(publishId)) return false;
    this.lastActivityAt = Date.now();
    const timeline = this.timelines.get(meta.rendition);
    if (!timeline) return true;
    const listed = applySegment(timeline, meta);
    if (listed.length === 0) return true;
    this.persistSegments(record.streamId, meta.rendition, listed);
    trimToDvrWindow(timeline, this.dvrWindowSeconds);
    this.invalidateRendered();
    this.releaseWaiters(meta.rendition);
    return true;
  }

  /** Records that the stream has a thumbnail (the origin has written it to R2). */
  async commitThumbnail(publishId: string): Promise<boolean> {
    const record = this.record;
    if (!record || !this.isCurrentPublisher(publishId)) return false;
    this.lastActivityAt = Date.now();
    if (record.hasThumbnail) return true;
    record.hasThumbnail = true;
    this.saveRecord();
    await this.env.DB.prepare('UPDATE streams SET thumbnail_url = ? WHERE id = ?')
      .bind(getThumbnailPath(record.channelId, record.streamId), record.streamId)
      .run();
    return true;
  }

  heartbeat(publishId: string): boolean {
    return this.checkPublisher(publishId).ok;
  }

  /** The publisher says it is gone: the reconnect window starts. */
  async endPublish(publishId: string): Promise<boolean> {
    if (!this.isCurrentPublisher(publishId)) return false;
    await this.dropPublisher(Date.now());
    return true;
  }

  /**
   * Cuts the current publisher off (stream key reset): its next ingest call gets 409, and the
   * stream enters its reconnect window as if the publisher had dropped. True when one was publishing.
   */
  async revokePublisher(): Promise<boolean> {
    if (!this.isPublishing()) return false;
    await this.dropPublisher(Date.now());
    return true;
  }

  // ---- playback (called by the origin's playback routes) ----

  getMultivariantPlaylist(): string | null {
    const renditions = [...this.timelines.values()].filter(hasMedia).map((t) => t.info);
    if (renditions.length === 0) return null;
    return renderMultivariantPlaylist(renditions);
  }

  /** The media playlist of a rendition, held until `_HLS_msn`/`_HLS_part` is listed. */
  async getMediaPlaylist(
    rendition: RenditionName,
    directives: ReloadDirectives & { skip: boolean },
  ): Promise<PlaylistResult> {
    const timeline = this.timelines.get(rendition);
    if (!this.record || !timeline || !hasMedia(timeline))
      return { status: 404, message: 'No live media for this rendition' };
    const decision = decideBlockingReload(timeline, directives, this.record.phase === 'ended');
    switch (decision.kind) {
      case 'bad-request':
        return { status: 400, message: decision.message };
      case 'wait': {
        const { msn, part } = decision;
        const ready = await this.waitFor(
          rendition,
          () => this.isEnded() || isPositionListed(timeline, msn, part),
        );
        if (!ready) return { status: 503, message: `Part ${msn}.${part ?? '-'} did not arrive in time` };
        break;
      }
      case 'answer':
        break;
    }
    return {
      status: 200,
      body: this.renderPlaylist(rendition, timeline, directives.skip),
      blocking: directives.msn !== undefined,
    };
  }

  /**
   * Holds a request for a part file that is not in R2 yet until the part lands or cannot come
   * (null): the hinted part "must wait until the part exists, not 404". Gives the number of the
   * publish that uploaded it, which names its R2 key (a hint can outlive its publisher).
   */
  async waitForPart(
    streamId: string,
    rendition: RenditionName,
    msn: number,
    part: number,
  ): Promise<number | null> {
    const timeline = this.timelines.get(rendition);
    if (!timeline || this.record?.streamId !== streamId || this.isEnded()) return null;
    const known = findPartPublish(timeline, msn, part);
    if (known !== undefined) return known;
    if (!canAwaitPart(timeline, msn, part)) return null;
    const arrived = await this.waitFor(
      rendition,
      () => !this.isEnded() && findPartPublish(timeline, msn, part) !== undefined,
    );
    return arrived ? (findPartPublish(timeline, msn, part) ?? null) : null;
  }

  getSummary(): StreamSummary {
    const record = this.record;
    const phase = record?.phase ?? 'idle';
    const status = phase === 'starting' ? 'idle' : phase === 'ending' ? 'ended' : phase;
    return {
      stream_id: record?.streamId ?? null,
      status,
      renditions: [...this.timelines.values()].filter(hasMedia).map((t) => t.info),
      started_at: record?.startedAt ?? null,
      last_part_at: this.lastPartAt,
      discontinuities: record?.discontinuities ?? 0,
    };
  }

  getRenditions(): RenditionInfo[] {
    return [...this.timelines.values()].map((t) => t.info);
  }

  /** Every finished segment of a rendition of the current (or the named) stream, for the VOD. */
  getSegmentIndex(rendition: RenditionName, streamId?: string): SegmentRecord[] {
    const id = streamId ?? this.record?.streamId;
    if (!id || !this.hasSchema) return [];
    const rows = this.ctx.storage.sql
      .exec(
        'SELECT rendition, msn, duration, pdt, discontinuity, init, gap FROM segments WHERE stream_id = ? AND rendition = ? ORDER BY msn',
        id,
        rendition,
      )
      .toArray();
    return rows.map((row) => {
      const segment = SegmentRow.parse(row);
      return {
        msn: segment.msn,
        duration: segment.duration,
        pdt: segment.pdt,
        discontinuity: segment.discontinuity === 1,
        init: segment.init,
        gap: segment.gap === 1,
      };
    });
  }

  /**
   * The VOD of `streamId` now keeps its own copy of the segment index (R2 vods/{id}/index.json):
   * the object's rows for that stream go, so storage does not grow with every past broadcast.
   * The in-memory timelines of the current (ended) stream stay until the next publish replaces
   * them, so its ENDLIST playlist keeps answering while the object lives.
   */
  forgetStream(streamId: string): void {
    if (!this.hasSchema) return;
    const record = this.record;
    // A stream that is still going on (a misdirected call) keeps what its playlists need.
    if (record?.streamId === streamId && record.phase !== 'ended') return;
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM segments WHERE stream_id = ?', streamId);
    sql.exec('DELETE FROM parts WHERE stream_id = ?', streamId);
    sql.exec('DELETE FROM renditions WHERE stream_id = ?', streamId);
  }

  /**
   * The cron's reconciliation: D1 still says `streamId` is live or pending. Finishes an end that
   * never completed, ends a row this object has moved past (nothing else ever would), and leaves
   * a stream that is really on, or a pending row newer than `staleBefore`, alone. Runs under
   * blockConcurrencyWhile so it cannot interleave with a publish that is taking the row over.
   */
  async settleStream(streamId: string, staleBefore: number): Promise<SettleOutcome> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const record = this.record;
      const now = Date.now();
      if (record?.streamId === streamId) {
        switch (record.phase) {
          case 'ending':
            await this.finishEnding(record);
            return 'settled';
          case 'ended':
            return (await this.settleRow(streamId, record.startedAt, record.endedAt ?? now, record.channelId))
              ? 'settled'
              : 'unchanged';
          case 'reconnecting':
            if (record.droppedAt !== null && now >= record.droppedAt + this.reconnectWindowMs) {
              await this.endStream();
              return 'settled';
            }
            return 'active';
          default:
            return 'active';
        }
      }
      const row = await this.env.DB.prepare(
        'SELECT channel_id, status, started_at, created_at FROM streams WHERE id = ?',
      )
        .bind(streamId)
        .first<{ channel_id: string; status: string; started_at: number | null; created_at: number }>();
      if (!row || row.status === 'ended') return 'unchanged';
      // A pending row may still be waiting for its publisher (POST /streams/start, then OBS).
      if (row.status === 'pending' && row.created_at >= staleBefore) return 'active';
      return (await this.settleRow(streamId, row.started_at, now, row.channel_id)) ? 'settled' : 'unchanged';
    });
  }

  // ---- the one alarm: publisher liveness while publishing, the reconnect window after ----

  override async alarm(): Promise<void> {
    const record = this.record;
    if (!record) return;
    const now = Date.now();
    // An end whose D1 update or queue send failed: throwing again makes the runtime retry too.
    if (record.phase === 'ending') {
      await this.finishEnding(record);
      return;
    }
    if (this.isPublishing()) {
      const silentUntil = this.lastActivityAt + this.publisherTimeoutMs;
      if (now >= silentUntil) await this.dropPublisher(now);
      else await this.ctx.storage.setAlarm(silentUntil);
      return;
    }
    if (record.phase === 'reconnecting' && record.droppedAt !== null) {
      const windowEnd = record.droppedAt + this.reconnectWindowMs;
      if (now >= windowEnd) await this.endStream();
      else await this.ctx.storage.setAlarm(windowEnd);
    }
  }

  // ---- internals ----

  private isPublishing(): boolean {
    return this.record?.phase === 'starting' || this.record?.phase === 'live';
  }

  /** Over for viewers: ENDLIST, nothing more to wait for (settled in D1 or not yet). */
  private isEnded(): boolean {
    return this.record?.phase === 'ended' || this.record?.phase === 'ending';
  }

  private isCurrentPublisher(publishId: string): boolean {
    return this.isPublishing() && this.record?.publishId === publishId;
  }

  private async continuePublish(record: StreamRecord, input: BeginPublishInput): Promise<AuthorizeResponse> {
    const publishId = crypto.randomUUID();
    let nextMsn = 0;
    for (const timeline of this.timelines.values()) nextMsn = Math.max(nextMsn, timeline.nextMsn ?? 0);
    // Renditions that fell behind get GAP segments so every rendition goes on at the same msn.
    const now = Date.now();
    for (const [name, timeline] of this.timelines) {
      const gaps = fillGapTo(timeline, nextMsn, now);
      if (gaps.length > 0) this.persistSegments(record.streamId, name, gaps);
      // "the next segment gets EXT-X-DISCONTINUITY": the new publisher's timestamps start afresh.
      timeline.discontinuityPending = true;
    }
    this.invalidateRendered();
    record.publishId = publishId;
    record.phase = record.startedAt === null ? 'starting' : 'live';
    record.droppedAt = null;
    record.tier = input.tier;
    record.discontinuities++;
    this.saveRecord();
    this.lastActivityAt = now;
    await this.ctx.storage.setAlarm(now + this.publisherTimeoutMs);
    return {
      channel_id: record.channelId,
      stream_id: record.streamId,
      publish_id: publishId,
      tier: input.tier,
      continued: true,
      next_msn: nextMsn,
    };
  }

  private async startStream(input: BeginPublishInput, now: number): Promise<AuthorizeResponse> {
    const pending = await this.env.DB.prepare(
      `SELECT id FROM streams WHERE channel_id = ? AND status = 'pending' ORDER BY created_at DESC LIMIT 1`,
    )
      .bind(input.channelId)
      .first<{ id: string }>();
    let streamId = pending?.id;
    if (!streamId) {
      streamId = crypto.randomUUID();
      const { title, category_id, language, tags } = input.defaults;
      await this.env.DB.prepare(
        `INSERT INTO streams (id, channel_id, title, category_id, language, tags, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`,
      )
        .bind(streamId, input.channelId, title, category_id, language, JSON.stringify(tags), now)
        .run();
    }
    this.ensureSchema();
    const previous = this.record?.streamId;
    // The previous stream's part rows only served resuming it; its segment rows stay for the VOD
    // until finalizing it copies them out (forgetStream).
    if (previous) this.ctx.storage.sql.exec('DELETE FROM parts WHERE stream_id = ?', previous);
    this.timelines.clear();
    this.invalidateRendered();
    this.lastPartAt = null;
    const publishId = crypto.randomUUID();
    this.record = {
      streamId,
      channelId: input.channelId,
      tier: input.tier,
      phase: 'starting',
      publishId,
      droppedAt: null,
      startedAt: null,
      endedAt: null,
      discontinuities: 0,
      hasThumbnail: false,
      liveAnnounced: false,
    };
    this.saveRecord();
    this.lastActivityAt = now;
    await this.ctx.storage.setAlarm(now + this.publisherTimeoutMs);
    return {
      channel_id: input.channelId,
      stream_id: streamId,
      publish_id: publishId,
      tier: input.tier,
      continued: false,
      next_msn: 0,
    };
  }

  /**
   * The D1 row goes live and `stream.started` is queued. The part that triggered it is already
   * listed, so a failure here does not fail its upload: it is logged and the next part tries again.
   * Both steps are safe to repeat (the same UPDATE; notifications are unique per stream).
   */
  private async announceLive(record: StreamRecord): Promise<void> {
    const startedAt = record.startedAt;
    if (startedAt === null) return;
    try {
      await this.env.DB.prepare(
        `UPDATE streams SET status = 'live', started_at = ?, renditions = ? WHERE id = ? AND status <> 'ended'`,
      )
        .bind(startedAt, this.getRenditionsJson(), record.streamId)
        .run();
      const event = createEvent(
        'stream.started',
        { stream_id: record.streamId, channel_id: record.channelId },
        startedAt,
      );
      await this.env.STREAM_EVENTS.send(event, { contentType: 'json' });
    } catch (error) {
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'announcing the stream live failed; the next part retries',
          class: 'LiveStream',
          stream_id: record.streamId,
          error: String(error),
        }),
      );
      return;
    }
    record.liveAnnounced = true;
    this.saveRecord();
  }

  private async updateRenditionsRow(record: StreamRecord): Promise<void> {
    await this.env.DB.prepare('UPDATE streams SET renditions = ? WHERE id = ?')
      .bind(this.getRenditionsJson(), record.streamId)
      .run();
  }

  private getRenditionsJson(): string {
    return JSON.stringify([...this.timelines.keys()]);
  }

  /**
   * The publisher is gone (said so, went silent, or was cut off). Its unfinished segments are
   * sealed from their parts, so a player that only knows whole segments still gets them, and the
   * reconnect window starts. Why a window at all: OBS reconnects on its own after a network blip,
   * and viewers should keep the same stream (with a discontinuity) rather than see it end.
   */
  private async dropPublisher(now: number): Promise<void> {
    const record = this.record;
    if (!record) return;
    record.phase = 'reconnecting';
    record.publishId = null;
    record.droppedAt = now;
    this.saveRecord();
    await this.ctx.storage.setAlarm(now + this.reconnectWindowMs);
    await this.sealOpenSegments(record.streamId);
  }

  private async sealOpenSegments(streamId: string): Promise<void> {
    for (const [rendition, timeline] of this.timelines) {
      for (const { msn, parts } of planSeal(timeline)) {
        const bodies = await Promise.all(
          parts.map(async (p) => {
            const object = await this.env.MEDIA.get(getPartKey(streamId, rendition, msn, p.part, p.publish));
            return object ? new Uint8Array(await object.arrayBuffer()) : new Uint8Array();
          }),
        );
        const joined = new Uint8Array(bodies.reduce((size, body) => size + body.byteLength, 0));
        let offset = 0;
        for (const body of bodies) {
          joined.set(body, offset);
          offset += body.byteLength;
        }
        // The segment's bytes go to R2 before the playlist lists it.
        await this.env.MEDIA.put(getSegmentKey(streamId, rendition, msn), joined, {
          httpMetadata: { contentType: 'video/mp4' },
        });
        const duration = parts.reduce((sum, p) => sum + p.duration, 0);
        const listed = applySegment(timeline, { msn, duration, pdt: parts[0]?.pdt ?? Date.now() });
        this.persistSegments(streamId, rendition, listed);
      }
      dropOpenSegments(timeline);
      this.invalidateRendered();
      this.releaseWaiters(rendition);
    }
  }

  /**
   * The reconnect window passed: ENDLIST everywhere at once, then the D1 row and `stream.ended`.
   * The phase is 'ending' until both have happened, and the alarm retries them until they do:
   * a VOD is only ever made from that event, so losing it to one failed send would lose the VOD.
   */
  private async endStream(): Promise<void> {
    const record = this.record;
    if (!record || record.phase === 'ended') return;
    if (record.phase !== 'ending') {
      record.phase = 'ending';
      record.endedAt = record.droppedAt ?? Date.now();
      record.publishId = null;
      this.saveRecord();
      this.invalidateRendered();
      for (const waiter of this.waiters) {
        this.waiters.delete(waiter);
        waiter.settle(true);
      }
    }
    await this.ctx.storage.setAlarm(Date.now() + ENDING_RETRY_MS);
    await this.finishEnding(record);
  }

  /** Settles an 'ending' stream in D1 and queues `stream.ended`; throws (to be retried) on failure. */
  private async finishEnding(record: StreamRecord): Promise<void> {
    const endedAt = record.endedAt ?? Date.now();
    const durationSeconds =
      record.startedAt === null ? 0 : Math.max(0, Math.round((endedAt - record.startedAt) / 1000));
    await this.env.DB.prepare(
      `UPDATE streams SET status = 'ended', ended_at = ?, duration_seconds = ? WHERE id = ?`,
    )
      .bind(endedAt, durationSeconds, record.streamId)
      .run();
    // A publish that never sent media never went live, so there is nothing to announce as ended.
    if (record.startedAt !== null) {
      const event = createEvent(
        'stream.ended',
        { stream_id: record.streamId, channel_id: record.channelId, duration_seconds: durationSeconds },
        endedAt,
      );
      await this.env.STREAM_EVENTS.send(event, { contentType: 'json' });
    }
    record.phase = 'ended';
    this.saveRecord();
    await this.ctx.storage.deleteAlarm();
  }

  /**
   * Ends a D1 row that still says live or pending; queues `stream.ended` when it had gone live, so
   * its VOD is made (finalizing is idempotent per stream). True when the row changed.
   */
  private async settleRow(
    streamId: string,
    startedAt: number | null,
    endedAt: number,
    channelId: string,
  ): Promise<boolean> {
    const durationSeconds = startedAt === null ? 0 : Math.max(0, Math.round((endedAt - startedAt) / 1000));
    const result = await this.env.DB.prepare(
      `UPDATE streams SET status = 'ended', ended_at = ?, duration_seconds = ? WHERE id = ? AND status <> 'ended'`,
    )
      .bind(endedAt, durationSeconds, streamId)
      .run();
    if (result.meta.changes === 0) return false;
    if (startedAt !== null) {
      const event = createEvent(
        'stream.ended',
        { stream_id: streamId, channel_id: channelId, duration_seconds: durationSeconds },
        endedAt,
      );
      await this.env.STREAM_EVENTS.send(event, { contentType: 'json' });
    }
    console.warn(
      JSON.stringify({
        level: 'warn',
        msg: 'settled a stale stream row',
        class: 'LiveStream',
        stream_id: streamId,
      }),
    );
    return true;
  }

  private renderPlaylist(rendition: RenditionName, timeline: Timeline, skip: boolean): string {
    const key = `${rendition}:${skip ? 'skip' : 'full'}`;
    const cached = this.rendered.get(key);
    if (cached !== undefined) return cached;
    const others: Array<{ name: RenditionName; timeline: Timeline }> = [];
    for (const [name, other] of this.timelines) {
      if (name !== rendition && getLastPart(other)) others.push({ name, timeline: other });
    }
    const body = renderMediaPlaylist({
      streamId: this.record?.streamId ?? '',
      rendition,
      timeline,
      others,
      ended: this.isEnded(),
      skip,
      publish: this.record?.discontinuities ?? 0,
    });
    this.rendered.set(key, body);
    return body;
  }

  /** Any playlist may change: each lists the other renditions' last parts (rendition reports). */
  private invalidateRendered(): void {
    this.rendered.clear();
  }

  /** Resolves true once `isReady` holds after an update of `rendition`, false after the timeout. */
  private waitFor(rendition: RenditionName, isReady: () => boolean): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        rendition,
        isReady,
        settle: (ready) => {
          clearTimeout(timer);
          resolve(ready);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, this.blockingTimeoutMs);
      this.waiters.add(waiter);
    });
  }

  private releaseWaiters(rendition: RenditionName): void {
    for (const waiter of this.waiters) {
      if (waiter.rendition === rendition && waiter.isReady()) {
        this.waiters.delete(waiter);
        waiter.settle(true);
      }
    }
  }

  /** Keeps the renditions in ladder order (RENDITION_NAMES), however their inits arrived. */
  private addTimeline(rendition: RenditionName, timeline: Timeline): void {
    const entries = [...this.timelines, [rendition, timeline] as const];
    entries.sort(([a], [b]) => RENDITION_NAMES.indexOf(a) - RENDITION_NAMES.indexOf(b));
    this.timelines.clear();
    for (const [name, value] of entries) this.timelines.set(name, value);
  }

  private persistSegments(
    streamId: string,
    rendition: RenditionName,
    entries: readonly SegmentEntry[],
  ): void {
    const sql = this.ctx.storage.sql;
    for (const s of entries) {
      sql.exec(
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
      sql.exec(
        'DELETE FROM parts WHERE stream_id = ? AND rendition = ? AND msn < ?',
        streamId,
        rendition,
        last.msn - PART_ROWS_KEPT_SEGMENTS,
      );
    }
  }

  /** Creates the tables (the first publish) and adds the columns newer code expects. */
  private ensureSchema(): void {
    if (this.hasSchema) return;
    const sql = this.ctx.storage.sql;
    sql.exec(SCHEMA);
    for (const change of ADDED_COLUMNS) {
      const columns = sql.exec(`PRAGMA table_info(${change.table})`).toArray();
      if (columns.some((column) => column.name === change.column)) continue;
      sql.exec(change.add);
      if (change.backfill) sql.exec(change.backfill);
    }
    this.hasSchema = true;
  }

  private saveRecord(): void {
    const r = this.record;
    if (!r) return;
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO stream (id, stream_id, channel_id, tier, phase, publish_id, dropped_at, started_at, ended_at, discontinuities, has_thumbnail, live_announced)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    );
  }

  /** Rebuilds the in-memory state from SQLite (once, under blockConcurrencyWhile). */
  private loadState(): void {
    const sql = this.ctx.storage.sql;
    const row = sql.exec('SELECT * FROM stream WHERE id = 1').toArray()[0];
    if (!row) return;
    const stored = StreamRow.parse(row);
    this.record = {
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
    };
    // A publisher that was active when the object stopped gets a fresh liveness period.
    this.lastActivityAt = Date.now();
    const streamId = stored.stream_id;
    for (const raw of sql.exec(
      'SELECT rendition, info, part_target, init_count FROM renditions WHERE stream_id = ?',
      streamId,
    )) {
      const rendition = RenditionRow.parse(raw);
      const info = RenditionInfo.parse(JSON.parse(rendition.info));
      const timeline = createTimeline(info, rendition.part_target);
      timeline.initCount = rendition.init_count;
      this.addTimeline(rendition.rendition, timeline);
    }
    for (const raw of sql.exec(
      'SELECT rendition, msn, duration, pdt, discontinuity, init, gap FROM segments WHERE stream_id = ? ORDER BY msn',
      streamId,
    )) {
      const s = SegmentRow.parse(raw);
      const timeline = this.timelines.get(s.rendition);
      if (!timeline) continue;
      timeline.segments.push({
        msn: s.msn,
        duration: s.duration,
        pdt: s.pdt,
        discontinuity: s.discontinuity === 1,
        init: s.init,
        gap: s.gap === 1,
        parts: [],
      });
      timeline.nextMsn = s.msn + 1;
    }
    for (const raw of sql.exec(
      'SELECT rendition, msn, part, duration, independent, pdt, publish FROM parts WHERE stream_id = ? ORDER BY msn, part',
      streamId,
    )) {
      const p = PartRow.parse(raw);
      const timeline = this.timelines.get(p.rendition);
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
    for (const timeline of this.timelines.values()) {
      for (const segment of timeline.segments.slice(-PART_ROWS_KEPT_SEGMENTS - 1)) {
        segment.parts = takeUnbrokenRun(segment.parts);
      }
      trimToDvrWindow(timeline, this.dvrWindowSeconds);
    }
  }
}
