// The live stream of one channel (addressed by channel id): who may publish, the reconnect
// window, every rendition's segment and part timeline, and the LL-HLS playlists rendered from it.
// This file is the RPC surface and the I/O around each phase transition (phases.ts: idle →
// starting → live ⇄ reconnecting → ending → ended). Its helpers take narrow interfaces: SQLite rows
// (storage.ts), the D1 row and its events (stream-rows.ts), playlists and held requests
// (playlists.ts, waiters.ts), sealing a dropped publish (seal.ts); the playlist rules themselves
// are runtime-neutral (media/hls/). It is a little over 400 lines because every RPC method must be
// a method of the class itself (native RPC dispatches on it); each is a short delegation or a
// transition that needs the record, the storage and the alarm together.
import { DurableObject } from 'cloudflare:workers';
import { type LogFields, log } from '../../common/log.ts';
import type { ReloadDirectives } from '../../media/hls/blocking-reload.ts';
import {
  applyInit,
  applyPart,
  applySegment,
  createTimeline,
  dropOpenSegments,
  toRenditionInfo,
  trimToDvrWindow,
} from '../../media/hls/timeline.ts';
import { getThumbnailPath } from '../../media/live-keys.ts';
import type {
  AuthorizeResponse,
  InitMeta,
  PartMeta,
  RenditionName,
  SegmentMeta,
  SourceHealth,
} from '../../protocol/ingest.ts';
import type { RenditionInfo, SegmentRecord } from '../../protocol/media.ts';
import * as phases from './phases.ts';
import { LivePlaylists, type StreamView } from './playlists.ts';
import { sealOpenSegments } from './seal.ts';
import { LiveStreamStorage } from './storage.ts';
import { type HealthReport, StreamHealthLog } from './stream-health.ts';
import * as rows from './stream-rows.ts';
import {
  type BeginPublishInput,
  type BeginPublishResult,
  type LiveStreamTimings,
  type PartOutcome,
  type PlaylistOutcome,
  type PublisherCheck,
  readTimings,
  type SettleOutcome,
  type StandbyClaim,
  type StreamRecord,
  type StreamSummary,
  type YieldOutcome,
} from './types.ts';

/** How an ad break request ended (LiveStream.startAdBreak). */
export type AdBreakOutcome =
  | { kind: 'started'; streamId: string; startMs: number }
  | { kind: 'not-live' }
  | { kind: 'busy'; retryAfterMs: number };

/** How soon an end whose D1 update or queue send failed is tried again (the alarm's own retry aside). */
const ENDING_RETRY_MS = 30_000;

const streamLog = log.child({ class: 'LiveStream' });

/** Where the object keeps whether the current publish came as the encoder's backup. */
const CURRENT_IS_BACKUP_KEY = 'current_is_backup';
/** A standby that has not claimed (every 200 ms) for this long is gone: another may take its place. */
const STANDBY_SILENT_MS = 2_000;

/** The stream's warm standby (LiveStream.#standby). */
interface StandbyRecord {
  publishId: string;
  lastSeenAt: number;
  input: BeginPublishInput;
  /** It has claimed: its pipeline runs (a standby claims once its transcode has started). */
  claimed: boolean;
  /** A relay's standby: the publish whose source it relays (that one holds the encoder). */
  relayOf: string | null;
}

/** Why a publisher stopped being the channel's publisher: on the `publisher_dropped` line. */
type DropReason = 'ended' | 'timed_out' | 'revoked' | 'taken_over' | 'yielded';

/**
 * The ids every line of the object names: a publish's trace id links these lines to the
 * transcoder's and the ingest endpoint's (docs/operations.md).
 */
function describeRecord(record: StreamRecord): LogFields {
  return {
    channel_id: record.channelId,
    stream_id: record.streamId,
    trace_id: record.traceId ?? undefined,
  };
}

export class LiveStream extends DurableObject<Env> {
  /** From the constructor (readTimings in production); only a test subclass changes them later. */
  protected timings: LiveStreamTimings;
  readonly #storage: LiveStreamStorage;
  readonly #playlists: LivePlaylists;
  #record: StreamRecord | null = null;
  #lastActivityAt = 0;
  /** The current publish's last upload (init, part, segment); null before its first. */
  #lastUploadAt: number | null = null;
  #lastPartAt: number | null = null;
  /** The current publish's source measurements, for the dashboard's warnings (stream-health.ts). */
  readonly #health = new StreamHealthLog();
  /**
   * The stream's source keyframe interval as its publishes' heartbeats last measured it: handed to
   * a publish that continues the stream (the same encoder reconnecting, often through another
   * node), which then skips measuring it (AuthorizeResponse.source_keyframe_interval_ms). Memory
   * only: an object restarted mid-window hands none, and the pipeline measures as usual.
   */
  #sourceKeyframeIntervalMs: number | null = null;
  /**
   * A dual publish's second publish (docs/deploy.md, "Dual publish"): admitted beside the current
   * one, its pipeline warm and nothing of it listed, promoted by its own claim once the current
   * publish has gone silent. Memory only: an object restarted meanwhile answers its next claim 409,
   * and the encoder's retry admits it again.
   */
  #standby: StandbyRecord | null = null;
  /**
   * What the current publish was admitted with: a publish handing the air to its standby (a yield, or
   * a relay's source replaced) becomes that standby with it. Memory only: an object restarted
   * meanwhile hands over the old way (the replaced publish is cut off).
   */
  #currentInput: BeginPublishInput | null = null;
  /**
   * The standby this object last put on air and what its claim was answered: the same answer again
   * while it is the publisher, should that answer have been lost on its way.
   */
  #promoted: { publishId: string; nextMsn: number; afterPdt: number } | null = null;
  /**
   * The current publish came as the encoder's backup: the encoder's primary may join as its standby.
   * Kept in storage too (CURRENT_IS_BACKUP_KEY), so a restarted object still admits it.
   */
  #currentIsBackup = false;
  /** A publisher's drop sealing its open segments (R2 reads and writes): a new publish waits for it. */
  #sealing: Promise<void> | null = null;
  /**
   * The last publish ended because its encoder said so (it stopped streaming): a standby is not put
   * on air for that, since the same encoder is stopping its backup too.
   */
  #endedByEncoder = false;

  constructor(ctx: DurableObjectState, env: Env, timings: LiveStreamTimings = readTimings(env)) {
    super(ctx, env);
    this.timings = timings;
    this.#storage = new LiveStreamStorage(ctx.storage.sql);
    this.#playlists = new LivePlaylists(() => this.timings);
    void ctx.blockConcurrencyWhile(async () => {
      // A playback request for a channel that never streamed must not leave a stored object behind.
      if (!this.#storage.exists()) return;
      this.#storage.ensureSchema();
      const state = this.#storage.load();
      if (!state) return;
      this.#record = state.record;
      this.#currentIsBackup = (await ctx.storage.get<boolean>(CURRENT_IS_BACKUP_KEY)) === true;
      // A publisher that was active when the object stopped gets a fresh liveness period.
      this.#lastActivityAt = Date.now();
      if (state.record.phase === 'live') this.#lastUploadAt = this.#lastActivityAt;
      for (const [name, timeline] of state.timelines) {
        trimToDvrWindow(timeline, this.timings.dvrWindowSeconds);
        this.#playlists.add(name, timeline);
      }
      const keepAfterMs = Date.now() - this.timings.dvrWindowSeconds * 1000;
      for (const ad of state.interstitials) this.#playlists.addInterstitial(ad, keepAfterMs);
    });
  }

  // ---- publishing (called by the origin's ingest endpoint) ----

  /**
   * Admits a publisher: continues the stream inside its reconnect window, or starts a new one
   * (reusing a pending D1 row from POST /streams/start). The stream is not live until a part lands.
   * A current publisher is displaced only when it went silent: nothing at all for the publisher
   * timeout, or no upload for takeoverSilenceMs after it had uploaded (its node died; the
   * streamer's encoder, reconnecting through another node with the key, continues the stream).
   */
  async beginPublish(input: BeginPublishInput): Promise<BeginPublishResult> {
    await this.#sealed();
    return this.ctx.blockConcurrencyWhile(async () => {
      const now = Date.now();
      let replaced: string | null = null;
      // A fleet node's relay is only ever a standby: beside a live publish, and only one.
      if (input.relay === true) {
        const record = this.#record;
        const admissible =
          record !== null &&
          phases.isPublishing(record) &&
          this.#publisherSilence(now) === null &&
          !this.#hasLiveStandby(now);
        if (!admissible) return { ok: false, code: 'already_publishing' };
        return { ok: true, value: this.#admitStandby(record, input, now), replaced: null };
      }
      if (phases.isPublishing(this.#record)) {
        const silence = this.#publisherSilence(now);
        if (silence === null) {
          // One of a dual publish's two connections is the backup: the second to arrive waits warm.
          const dual = input.backup === true || this.#currentIsBackup;
          if (dual && this.#record && !this.#hasLiveStandby(now))
            return { ok: true, value: this.#admitStandby(this.#record, input, now), replaced: null };
          return { ok: false, code: 'already_publishing' };
        }
        replaced = this.#record?.publishId ?? null;
        await this.#dropPublisher(now, silence);
        // A relay of the publish taken over from has lost its source: it must not take the air.
        if (replaced !== null && this.#standby?.relayOf === replaced) this.#standby = null;
      }
      const record = this.#record;
      if (record?.phase === 'reconnecting' && record.droppedAt !== null) {
        if (now - record.droppedAt < this.timings.reconnectWindowMs) {
          await this.#setCurrentIsBackup(input.backup === true);
          this.#currentInput = input;
          return { ok: true, value: await this.#continuePublish(record, input), replaced };
        }
        await this.#endStream();
      }
      // The previous stream's end must be settled before a new stream replaces its record: nothing
      // else would ever send its stream.ended (a failure here fails this publish, to be retried).
      if (record?.phase === 'ending') await this.#finishEnding(record);
      const value = await this.#startStream(input, now);
      await this.#setCurrentIsBackup(input.backup === true);
      this.#currentInput = input;
      return { ok: true, value, replaced };
    });
  }

  /**
   * A standby publish asks whether to go on air. It is promoted when the current publish went silent
   * by the same rule as a takeover (no upload for takeoverSilenceMs after it had uploaded, or
   * nothing at all for the publisher timeout) or has already dropped inside the reconnect window:
   * the stream continues with the standby's publish id after a discontinuity.
   */
  async claimStandby(publishId: string): Promise<StandbyClaim> {
    // A drop still sealing its segments decides the next msn and where the listed media ends.
    await this.#sealed();
    return this.ctx.blockConcurrencyWhile(async () => {
      const standby = this.#standby;
      const record = this.#record;
      const promoted = this.#promoted;
      if (promoted?.publishId === publishId && phases.isCurrentPublisher(record, publishId))
        return {
          kind: 'promoted',
          nextMsn: promoted.nextMsn,
          afterPdt: promoted.afterPdt,
          replaced: null,
          demoted: false,
        };
      if (standby === null || standby.publishId !== publishId || record === null)
        return this.#gone(publishId);
      const now = Date.now();
      standby.lastSeenAt = now;
      standby.claimed = true;
      if (record.phase === 'reconnecting' && this.#endedByEncoder) return { kind: 'standby' };
      let replaced: string | null = null;
      const replacedInput = this.#currentInput;
      if (phases.isPublishing(record)) {
        const silence = this.#publisherSilence(now);
        if (silence === null) return { kind: 'standby' };
        replaced = record.publishId;
        await this.#dropPublisher(now, silence);
      }
      this.#standby = null;
      if (record.phase !== 'reconnecting' || record.droppedAt === null) return this.#gone(publishId);
      if (now - record.droppedAt >= this.timings.reconnectWindowMs) return this.#gone(publishId);
      const { nextMsn, afterPdt } = await this.#promote(record, standby, replaced);
      // A relay's source still holds the encoder's connection: it is this publish's standby now,
      // not cut off (which would close the connection that feeds the relay). It fell silent, so it
      // must claim before anything is handed back to it.
      if (replaced === null || standby.relayOf !== replaced || replacedInput === null)
        return { kind: 'promoted', nextMsn, afterPdt, replaced, demoted: false };
      this.#standby = this.#newStandby(replaced, replacedInput, now, null);
      return { kind: 'promoted', nextMsn, afterPdt, replaced, demoted: true };
    });
  }

  /**
   * The publish on air says its transcode failed (its ffmpeg died with no in-node standby): a live
   * standby goes on air now (it hears so at its next claim, within STANDBY_CLAIM_INTERVAL_MS) and
   * this publish, whose node still holds its source, becomes the standby; without one it stays on
   * air while its ffmpeg restarts (docs/deploy.md, "Relayed standby").
   */
  async yieldAir(publishId: string): Promise<YieldOutcome> {
    await this.#sealed();
    return this.ctx.blockConcurrencyWhile(async () => {
      const record = this.#record;
      if (record === null || !phases.isPublishing(record) || !phases.isCurrentPublisher(record, publishId))
        return { kind: 'gone' };
      const now = Date.now();
      const standby = this.#standby;
      const input = this.#currentInput;
      // A standby that has not claimed yet has no transcode running to hand over to.
      if (standby === null || !standby.claimed || !this.#hasLiveStandby(now) || input === null)
        return { kind: 'kept' };
      this.#standby = null;
      await this.#dropPublisher(now, 'yielded');
      await this.#promote(record, standby, publishId);
      // A relay yielding to its source stays that source's relay; it claims before it can be handed
      // the air back (its ffmpeg is restarting).
      this.#standby = this.#newStandby(
        publishId,
        input,
        now,
        input.relay === true ? standby.publishId : null,
      );
      return { kind: 'standby' };
    });
  }

  /** Puts the standby on air after the publish on air dropped; its claim is answered `#promoted`. */
  async #promote(
    record: StreamRecord,
    standby: { publishId: string; input: BeginPublishInput },
    replaced: string | null,
  ): Promise<{ nextMsn: number; afterPdt: number }> {
    const afterPdt = this.#playlists.listedMediaEnd();
    const value = await this.#continuePublish(record, standby.input, standby.publishId);
    await this.#setCurrentIsBackup(standby.input.backup === true);
    this.#currentInput = standby.input;
    this.#promoted = { publishId: standby.publishId, nextMsn: value.next_msn, afterPdt };
    streamLog.info('standby_promoted', {
      ...describeRecord(record),
      publish_id: standby.publishId,
      replaced_publish_id: replaced ?? undefined,
      after_pdt: afterPdt,
    });
    return { nextMsn: value.next_msn, afterPdt };
  }

  /**
   * Whether the current publisher may be displaced (by a new publish with the key, or by the
   * standby's claim): 'taken_over' when it uploaded before and nothing for takeoverSilenceMs,
   * 'timed_out' when nothing came at all for the publisher timeout; null while it is alive.
   */
  #publisherSilence(now: number): 'taken_over' | 'timed_out' | null {
    if (this.#lastUploadAt !== null && now - this.#lastUploadAt >= this.timings.takeoverSilenceMs)
      return 'taken_over';
    return now - this.#lastActivityAt >= this.timings.publisherTimeoutMs ? 'timed_out' : null;
  }

  /** A claim for a publish that is not the standby (any more); stale unless it is the publisher. */
  #gone(publishId: string): StandbyClaim {
    return { kind: 'gone', stale: !phases.isCurrentPublisher(this.#record, publishId) };
  }

  /** A standby claims every 200 ms: one silent for STANDBY_SILENT_MS is gone, and another may take its place. */
  #hasLiveStandby(now: number): boolean {
    return this.#standby !== null && now - this.#standby.lastSeenAt < STANDBY_SILENT_MS;
  }

  /**
   * Waits for a drop that is sealing its open segments. Outside blockConcurrencyWhile only: inside it
   * the drop's own I/O could not complete (the object's input is closed to everything else).
   */
  async #sealed(): Promise<void> {
    while (this.#sealing !== null) await this.#sealing.catch(() => undefined);
  }

  async #setCurrentIsBackup(value: boolean): Promise<void> {
    if (value === this.#currentIsBackup) return;
    this.#currentIsBackup = value;
    await this.ctx.storage.put(CURRENT_IS_BACKUP_KEY, value);
  }

  /** A standby that has not claimed yet: nothing is handed to it before its first claim. */
  #newStandby(
    publishId: string,
    input: BeginPublishInput,
    now: number,
    relayOf: string | null,
  ): StandbyRecord {
    return { publishId, lastSeenAt: now, input, claimed: false, relayOf };
  }

  #admitStandby(record: StreamRecord, input: BeginPublishInput, now: number): AuthorizeResponse {
    const publishId = crypto.randomUUID();
    // A relay is admitted beside the publish whose node sends it (beginPublish): that is its source.
    this.#standby = this.#newStandby(publishId, input, now, input.relay === true ? record.publishId : null);
    streamLog.info('standby_admitted', {
      ...describeRecord(record),
      publish_id: publishId,
      current_publish_id: record.publishId ?? undefined,
    });
    return {
      ...phases.toAuthorizeResponse(record, true, 0),
      publish_id: publishId,
      standby: true,
      source_keyframe_interval_ms: this.#sourceKeyframeIntervalMs,
    };
  }

  /**
   * Validates a publish id before an upload's bytes go to R2; gives the R2 key's stream id and
   * publish number. Both never change for a publish id, so the origin may remember them.
   */
  checkPublisher(publishId: string): PublisherCheck {
    if (!phases.isCurrentPublisher(this.#record, publishId) || !this.#record) return { ok: false };
    this.#lastActivityAt = Date.now();
    return { ok: true, streamId: this.#record.streamId, publish: this.#record.discontinuities };
  }

  /** Numbers the next init segment of a rendition (init-{n}.mp4); the origin writes it, then commits. */
  reserveInit(
    publishId: string,
    rendition: RenditionName,
  ): { ok: true; streamId: string; publish: number; init: number } | { ok: false } {
    const check = this.checkPublisher(publishId);
    if (!check.ok) return check;
    return { ...check, init: (this.#playlists.get(rendition)?.initCount ?? 0) + 1 };
  }

  async commitInit(publishId: string, meta: InitMeta, init: number): Promise<boolean> {
    const record = this.#record;
    if (!record || !phases.isCurrentPublisher(this.#record, publishId)) return false;
    this.#lastActivityAt = Date.now();
    this.#lastUploadAt = this.#lastActivityAt;
    const info = toRenditionInfo(meta);
    let timeline = this.#playlists.get(meta.rendition);
    const isNew = !timeline;
    if (!timeline) {
      // "PART-TARGET never changes during a stream": the first init of the rendition fixes it.
      timeline = createTimeline(info, meta.part_target);
      this.#playlists.add(meta.rendition, timeline);
    }
    applyInit(timeline, info, init);
    this.#playlists.changed(null);
    this.#storage.saveRendition(record.streamId, meta.rendition, timeline);
    if (isNew && record.startedAt !== null)
      await rows.updateRenditions(this.env, record.streamId, this.#playlists.getNamesJson());
    return true;
  }

  /**
   * Lists a part the origin has already written to R2 (under this publish's number, see
   * getPartKey). The publisher check happens here, in the same call: false for a publish that is
   * no longer current, whose bytes are then an orphan no playlist names.
   */
  async commitPart(publishId: string, meta: PartMeta): Promise<boolean> {
    const record = this.#record;
    if (!record || !phases.isCurrentPublisher(this.#record, publishId)) return false;
    const now = Date.now();
    this.#lastActivityAt = now;
    this.#lastUploadAt = now;
    const timeline = this.#playlists.get(meta.rendition);
    // A part before its rendition's init cannot be played; the transcoder always sends the init first.
    if (!timeline) return true;
    const publish = record.discontinuities;
    if (applyPart(timeline, { ...meta, publish })) {
      this.#lastPartAt = now;
      this.#storage.savePart(record.streamId, meta.rendition, { ...meta, publish });
      this.#playlists.changed(meta.rendition);
      if (record.startedAt === null) {
        phases.goLive(record, now);
        this.#storage.saveRecord(record);
        streamLog.info('stream_live', { ...describeRecord(record), publish_id: publishId });
      }
    }
    // Checked on every part, not only the first: a D1 or queue failure is retried by the next part.
    if (!record.liveAnnounced && record.startedAt !== null) {
      record.liveAnnounced = await rows.announceLive(
        this.env,
        record,
        record.startedAt,
        this.#playlists.getNamesJson(),
      );
      if (record.liveAnnounced) this.#storage.saveRecord(record);
    }
    return true;
  }

  async commitSegment(publishId: string, meta: SegmentMeta): Promise<boolean> {
    const record = this.#record;
    if (!record || !phases.isCurrentPublisher(this.#record, publishId)) return false;
    this.#lastActivityAt = Date.now();
    this.#lastUploadAt = this.#lastActivityAt;
    const timeline = this.#playlists.get(meta.rendition);
    if (!timeline) return true;
    const listed = applySegment(timeline, meta);
    if (listed.length === 0) return true;
    this.#storage.saveSegments(record.streamId, meta.rendition, listed);
    trimToDvrWindow(timeline, this.timings.dvrWindowSeconds);
    this.#playlists.changed(meta.rendition);
    return true;
  }

  /** Records that the stream has a thumbnail (the origin has written it to R2). */
  async commitThumbnail(publishId: string): Promise<boolean> {
    const record = this.#record;
    if (!record || !phases.isCurrentPublisher(this.#record, publishId)) return false;
    this.#lastActivityAt = Date.now();
    if (record.hasThumbnail) return true;
    record.hasThumbnail = true;
    this.#storage.saveRecord(record);
    await rows.setThumbnailUrl(
      this.env,
      record.streamId,
      getThumbnailPath(record.channelId, record.streamId),
    );
    return true;
  }

  heartbeat(publishId: string, health?: SourceHealth): boolean {
    if (this.#standby?.publishId === publishId) {
      this.#standby.lastSeenAt = Date.now();
      return true;
    }
    const ok = this.checkPublisher(publishId).ok;
    if (ok && health) this.#health.record(publishId, health, Date.now());
    if (ok && health?.keyframe_interval_ms) this.#sourceKeyframeIntervalMs = health.keyframe_interval_ms;
    return ok;
  }

  /** The current publish's health and warnings (the owner's dashboard); null when none reported. */
  readHealth(): HealthReport | null {
    return phases.isPublishing(this.#record) ? this.#health.report() : null;
  }

  /**
   * The publisher says it is gone: the reconnect window starts. `byEncoder`: the encoder stopped
   * streaming (rather than the connection or its node failing), so a standby stays off air.
   */
  async endPublish(publishId: string, byEncoder = false): Promise<boolean> {
    if (this.#standby?.publishId === publishId) {
      this.#standby = null;
      return true;
    }
    if (!phases.isCurrentPublisher(this.#record, publishId)) return false;
    await this.#dropPublisher(Date.now(), 'ended', byEncoder);
    return true;
  }

  /**
   * Cuts the current publisher off (stream key reset): its next ingest call gets 409, and the
   * stream enters its reconnect window as if the publisher had dropped. True when one was publishing.
   */
  async revokePublisher(): Promise<boolean> {
    // The key was reset: a standby admitted with the old key goes too (its next claim gets 409).
    this.#standby = null;
    if (!phases.isPublishing(this.#record)) return false;
    await this.#dropPublisher(Date.now(), 'revoked');
    return true;
  }

  // ---- playback (called by the origin's playback routes) ----

  getMultivariantPlaylist(): string | null {
    return this.#playlists.getMultivariantPlaylist();
  }

  /** The media playlist of a rendition, held until `_HLS_msn`/`_HLS_part` is listed. */
  async getMediaPlaylist(
    rendition: RenditionName,
    directives: ReloadDirectives & { skip: boolean },
  ): Promise<PlaylistOutcome> {
    const view = this.#view();
    if (!view) return { kind: 'not-found', message: 'No live media for this rendition' };
    return this.#playlists.getMediaPlaylist(view, rendition, directives);
  }

  /**
   * Starts an ad break now (docs/payments.md, "Ads"): every media playlist lists it as an HLS
   * interstitial from its next render. One break at a time; only while the stream is live.
   */
  async startAdBreak(ad: {
    id: string;
    durationSeconds: number;
    assetListUri: string;
  }): Promise<AdBreakOutcome> {
    const view = this.#view();
    if (!view || view.isEnded() || this.#lastPartAt === null) return { kind: 'not-live' };
    const now = Date.now();
    const running = this.#playlists.findRunningInterstitial(now);
    if (running) {
      return { kind: 'busy', retryAfterMs: running.startMs + running.durationSeconds * 1000 - now };
    }
    const keepAfterMs = now - this.timings.dvrWindowSeconds * 1000;
    this.#playlists.addInterstitial({ ...ad, startMs: now }, keepAfterMs);
    this.#storage.saveAdBreak(view.streamId, { ...ad, startMs: now }, keepAfterMs);
    return { kind: 'started', streamId: view.streamId, startMs: now };
  }

  /** Holds a request for a hinted part until it is uploaded (LivePlaylists.waitForPart). */
  async waitForPart(
    streamId: string,
    rendition: RenditionName,
    msn: number,
    part: number,
  ): Promise<PartOutcome> {
    const view = this.#view();
    if (view?.streamId !== streamId) return { kind: 'not-found' };
    return this.#playlists.waitForPart(view, rendition, msn, part);
  }

  getSummary(): StreamSummary {
    const record = this.#record;
    return {
      stream_id: record?.streamId ?? null,
      status: phases.toSummaryStatus(record),
      renditions: this.#playlists.getInfos({ withMediaOnly: true }),
      started_at: record?.startedAt ?? null,
      last_part_at: this.#lastPartAt,
      discontinuities: record?.discontinuities ?? 0,
    };
  }

  getRenditions(): RenditionInfo[] {
    return this.#playlists.getInfos({ withMediaOnly: false });
  }

  /** Every finished segment of a rendition of the current (or the named) stream, for the VOD. */
  getSegmentIndex(rendition: RenditionName, streamId?: string): SegmentRecord[] {
    const id = streamId ?? this.#record?.streamId;
    return id ? this.#storage.readSegmentIndex(id, rendition) : [];
  }

  /**
   * The VOD of `streamId` now keeps its own copy of the segment index (R2 vods/{id}/index.json):
   * the object's rows for that stream go, so storage does not grow with every past broadcast. The
   * in-memory timelines of the current (ended) stream stay, so its ENDLIST playlist keeps
   * answering, unless the VOD is being deleted (`withdraw`): then its playlists 404 too.
   */
  forgetStream(streamId: string, options: { withdraw?: boolean } = {}): void {
    const record = this.#record;
    // A stream that is still going on (a misdirected call) keeps what its playlists need.
    if (record?.streamId === streamId && record.phase !== 'ended') return;
    this.#storage.forgetStream(streamId);
    if (options.withdraw && record?.streamId === streamId) this.#playlists.clear();
  }

  /**
   * The cron's reconciliation: D1 still says `streamId` is live or pending. Finishes an end that
   * never completed, ends a row this object has moved past (nothing else ever would), and leaves
   * a stream that is really on, or a pending row newer than `staleBefore`, alone. Runs under
   * blockConcurrencyWhile so it cannot interleave with a publish that is taking the row over.
   */
  async settleStream(streamId: string, staleBefore: number): Promise<SettleOutcome> {
    return this.ctx.blockConcurrencyWhile(async () => {
      const record = this.#record;
      const now = Date.now();
      if (record?.streamId === streamId) {
        switch (record.phase) {
          case 'ending':
            await this.#finishEnding(record);
            return 'settled';
          case 'ended': {
            const row = { streamId, channelId: record.channelId, startedAt: record.startedAt };
            const changed = await rows.settleStaleRow(this.env, { ...row, endedAt: record.endedAt ?? now });
            return changed ? 'settled' : 'unchanged';
          }
          case 'reconnecting':
            if (record.droppedAt !== null && now >= record.droppedAt + this.timings.reconnectWindowMs) {
              await this.#endStream();
              return 'settled';
            }
            return 'active';
          default:
            return 'active';
        }
      }
      return rows.settleUnheldRow(this.env, streamId, staleBefore, now);
    });
  }

  // ---- the one alarm: publisher liveness while publishing, the reconnect window after ----

  override async alarm(): Promise<void> {
    const record = this.#record;
    if (!record) return;
    const now = Date.now();
    // An end whose D1 update or queue send failed: throwing again makes the runtime retry too.
    if (record.phase === 'ending') {
      await this.#finishEnding(record);
      return;
    }
    if (phases.isPublishing(this.#record)) {
      const silentUntil = this.#lastActivityAt + this.timings.publisherTimeoutMs;
      if (now >= silentUntil) await this.#dropPublisher(now, 'timed_out');
      else await this.ctx.storage.setAlarm(silentUntil);
      return;
    }
    if (record.phase === 'reconnecting' && record.droppedAt !== null) {
      const windowEnd = record.droppedAt + this.timings.reconnectWindowMs;
      if (now >= windowEnd) await this.#endStream();
      else await this.ctx.storage.setAlarm(windowEnd);
    }
  }

  // ---- the phase machine ----

  /** The stream as playback sees it; null before any publish. */
  #view(): StreamView | null {
    const record = this.#record;
    if (!record) return null;
    return {
      streamId: record.streamId,
      publish: record.discontinuities,
      isEnded: () => phases.isEnded(record),
      isSettled: () => record.phase === 'ended',
    };
  }

  async #continuePublish(
    record: StreamRecord,
    input: BeginPublishInput,
    publishId?: string,
  ): Promise<AuthorizeResponse> {
    const now = Date.now();
    const { nextMsn, gaps } = this.#playlists.alignForNextPublish(now);
    for (const [name, added] of gaps) this.#storage.saveSegments(record.streamId, name, added);
    const previousTraceId = record.traceId;
    this.#endedByEncoder = false;
    phases.continueStream(record, input.tier, input.traceId ?? null, publishId);
    this.#storage.saveRecord(record);
    // The reconnect is a new publish with its own trace id; the line links it to the last one.
    streamLog.info('publish_begun', {
      ...describeRecord(record),
      publish_id: record.publishId,
      continued: true,
      previous_trace_id: previousTraceId ?? undefined,
      next_msn: nextMsn,
    });
    this.#lastActivityAt = now;
    this.#lastUploadAt = null;
    await this.ctx.storage.setAlarm(now + this.timings.publisherTimeoutMs);
    return {
      ...phases.toAuthorizeResponse(record, true, nextMsn),
      source_keyframe_interval_ms: this.#sourceKeyframeIntervalMs,
    };
  }

  async #startStream(input: BeginPublishInput, now: number): Promise<AuthorizeResponse> {
    const streamId = await rows.claimStreamRow(this.env, input, now);
    this.#sourceKeyframeIntervalMs = null;
    this.#standby = null;
    this.#endedByEncoder = false;
    this.#storage.ensureSchema();
    // The previous stream's part rows only served resuming it; its segment rows stay for the VOD
    // until finalizing it copies them out (forgetStream).
    if (this.#record) this.#storage.deleteParts(this.#record.streamId);
    this.#playlists.clear();
    this.#lastPartAt = null;
    const record = phases.createStreamRecord(input, streamId);
    this.#record = record;
    this.#storage.saveRecord(record);
    streamLog.info('publish_begun', {
      ...describeRecord(record),
      publish_id: record.publishId,
      continued: false,
    });
    this.#lastActivityAt = now;
    this.#lastUploadAt = null;
    await this.ctx.storage.setAlarm(now + this.timings.publisherTimeoutMs);
    return phases.toAuthorizeResponse(record, false, 0);
  }

  /**
   * The publisher is gone (said so, went silent, or was cut off). Its unfinished segments are
   * sealed from their parts, and the reconnect window starts. Why a window at all: OBS reconnects
   * on its own after a network blip, and viewers should keep the same stream (with a
   * discontinuity) rather than see it end.
   */
  async #dropPublisher(now: number, reason: DropReason, byEncoder = false): Promise<void> {
    const record = this.#record;
    if (!record) return;
    this.#endedByEncoder = byEncoder;
    this.#health.clear();
    streamLog.info('publisher_dropped', {
      ...describeRecord(record),
      publish_id: record.publishId ?? undefined,
      reason,
      reconnect_window_ms: this.timings.reconnectWindowMs,
    });
    phases.dropPublisher(record, now);
    this.#storage.saveRecord(record);
    const sealing = (async () => {
      await this.ctx.storage.setAlarm(now + this.timings.reconnectWindowMs);
      for (const [rendition, timeline] of this.#playlists.entries()) {
        const listed = await sealOpenSegments(this.env.MEDIA, record.streamId, rendition, timeline);
        this.#storage.saveSegments(record.streamId, rendition, listed);
        dropOpenSegments(timeline);
        this.#playlists.changed(rendition);
      }
    })();
    this.#sealing = sealing;
    try {
      await sealing;
    } finally {
      if (this.#sealing === sealing) this.#sealing = null;
    }
  }

  /**
   * The reconnect window passed: ENDLIST everywhere at once, then the D1 row and `stream.ended`.
   * The phase is 'ending' until both have happened, and the alarm retries them until they do:
   * a VOD is only ever made from that event, so losing it to one failed send would lose the VOD.
   */
  async #endStream(): Promise<void> {
    const record = this.#record;
    if (!record || record.phase === 'ended') return;
    this.#standby = null;
    if (record.phase !== 'ending') {
      phases.beginEnding(record, Date.now());
      this.#storage.saveRecord(record);
      this.#playlists.ended();
      streamLog.info('stream_ending', describeRecord(record));
    }
    await this.ctx.storage.setAlarm(Date.now() + ENDING_RETRY_MS);
    await this.#finishEnding(record);
  }

  /** Settles an 'ending' stream in D1 and queues `stream.ended`; throws (to be retried) on failure. */
  async #finishEnding(record: StreamRecord): Promise<void> {
    await rows.endStreamRow(this.env, record, record.endedAt ?? Date.now());
    record.phase = 'ended';
    this.#storage.saveRecord(record);
    await this.ctx.storage.deleteAlarm();
    streamLog.info('stream_ended', { ...describeRecord(record), went_live: record.startedAt !== null });
  }
}
