// One live stream through the transcoder: the RTMP session's FLV goes into a supervised ffmpeg (a
// lane, ffmpeg/transcode-lane.ts), each rendition's CMAF events go through a gate and an in-order
// uploader to the origin. A tier with a hot standby runs a second lane on the same input from the
// same first tag; its parts are held, not uploaded, until the active lane's ffmpeg dies or misses
// its part deadline: the lane pair (standby/lane-pair.ts) then promotes it, and the gates
// (standby/rendition-gate.ts) continue the upload from the standby.
// The pipeline owns everything it starts and releases it on close(): nothing outlives the publish.
import {
  type AuthorizeResponse,
  type ChannelTier,
  type EndRequest,
  type RenditionName,
  type SourceHealth,
  STANDBY_CLAIM_INTERVAL_MS,
} from '../../../protocol/ingest.ts';
import { AUDIO_PART_TARGET_SECONDS, computeVideoPartTarget, type PackagerEvent } from './cmaf/packager.ts';
import { buildTranscodeArgs, type TranscodeOutput, type VideoEncoder } from './ffmpeg/args.ts';
import {
  describeSource,
  type EncodeCapacity,
  type LadderPlan,
  planLadder,
  type RenditionPlan,
} from './ffmpeg/ladder.ts';
import { MAX_PENDING_INPUT_BYTES, TranscodeLane } from './ffmpeg/transcode-lane.ts';
import type { LogEvent, LogSink } from './log.ts';
import { type RelayStats, SourceRelay } from './relay/source-relay.ts';
import { readFlvMediaTimestamp } from './rtmp/flv.ts';
import type { PublishCloseReason, PublishSession } from './rtmp/server.ts';
import { LanePair, type ShedReason } from './standby/lane-pair.ts';
import { type GateStats, type LaneId, RenditionGate } from './standby/rendition-gate.ts';
import {
  countEncodedPixelRate,
  MAX_STANDBY_ENCODED_PIXEL_RATE,
  type StandbyBudget,
} from './standby/standby-budget.ts';
import { CutOffError, type IngestClient, type PublishRef } from './upload/ingest-client.ts';
import { RenditionUploader, type UploadStats } from './upload/rendition-uploader.ts';
import { buildUploadItem, type RenditionDescription } from './upload/upload-items.ts';

/** How long to watch the source for its keyframe interval before planning the ladder. */
const SOURCE_PROBE_MAX_MS = 2_600;
/** How long a source whose video is known waits for its first audio tag (they come ~20 ms apart). */
const AUDIO_WAIT_MS = 500;
/** Well inside the origin's 10 s publisher timeout, so two lost beats in a row still do not end the stream. */
const HEARTBEAT_INTERVAL_MS = 2_000;
const UPLOAD_FLUSH_DEADLINE_MS = 5_000;
/** Peak over average for the multivariant BANDWIDTH of an encoded rendition (maxrate = bitrate). */
const PEAK_FACTOR = 1.1;

export interface PipelineDeps {
  client: IngestClient;
  encoder: VideoEncoder;
  capacity: { snapshot(): EncodeCapacity; add(encodes: number): void };
  log: LogSink;
  /** Default 2000; tests shorten it. */
  heartbeatIntervalMs?: number;
  /** Per rendition, see RenditionUploaderOptions.maxBacklogSeconds; default 30. */
  maxUploadBacklogSeconds?: number;
  /**
   * Asks the source for a keyframe (a WebRTC PLI, docs/webrtc.md): a WHIP publisher sends one only
   * when asked, so every ffmpeg run asks as it starts. RTMP sources have a fixed GOP and need none.
   */
  requestKeyframe?: () => void;
  /** Tiers whose streams get a hot standby (HOT_STANDBY_TIERS); default none. */
  hotStandbyTiers?: readonly ChannelTier[];
  /** The node's standby encode slots; without it a wanted standby is admitted unconditionally. */
  standbyBudget?: StandbyBudget;
  /** Default PART_DEADLINE_MS (standby/lane-pair.ts); tests shorten it. */
  partDeadlineMs?: number;
  /** Default LONE_LANE_DEADLINE_MS (standby/lane-pair.ts); tests shorten it. */
  loneLaneDeadlineMs?: number;
  /**
   * Tiers whose source a fleet node relays to a standby on another node (RELAY_STANDBY_TIERS,
   * docs/deploy.md "Relayed standby"); default none.
   */
  relayStandbyTiers?: readonly ChannelTier[];
  /** Default RELAY_RETRY_MS (relay/source-relay.ts); tests shorten it. */
  relayRetryMs?: number;
}

export interface StandbyStats {
  /** The standby lane runs now (it is shed under load, and absent while its ffmpeg restarts). */
  running: boolean;
  pid: number | null;
  promotions: number;
  seamlessPromotions: number;
  shed: boolean;
  gates: Partial<Record<RenditionName, GateStats>>;
}

export interface PipelineStats {
  streamId: string;
  channelId: string;
  renditions: RenditionName[];
  passthrough: boolean;
  ffmpegRuns: number;
  ffmpegSpeed: number | null;
  /** FLV bytes waiting for an ffmpeg: the source probe, or a restart gap since its first keyframe. */
  heldInputBytes: number;
  heartbeatsSent: number;
  uploads: Partial<Record<RenditionName, UploadStats>>;
  /** Null when the stream has no hot standby. */
  standby: StandbyStats | null;
  /** A dual publish's standby that has not gone on air: its parts are held, nothing uploaded. */
  waitingOnStandby: boolean;
  /** The relay of this source to a standby node; null when this stream is not relayed. */
  relay: RelayStats | null;
}

interface RenditionOutput {
  plan: RenditionPlan;
  partTarget: number;
  uploader: RenditionUploader;
  gate: RenditionGate;
}

function describeRendition(plan: RenditionPlan, partTarget: number): RenditionDescription {
  if (plan.kind === 'audio') {
    return {
      rendition: plan.name,
      bandwidth: plan.audioBitrate,
      averageBandwidth: plan.audioBitrate,
      partTarget,
    };
  }
  const average = plan.videoBitrate + (plan.audioMode === 'none' ? 0 : plan.audioBitrate);
  const peak = plan.videoMode === 'copy' ? average * 1.5 : average * PEAK_FACTOR;
  return {
    rendition: plan.name,
    bandwidth: peak,
    averageBandwidth: average,
    frameRate: plan.fps,
    partTarget,
  };
}

function toEndReason(reason: PublishCloseReason): EndRequest['reason'] {
  switch (reason) {
    case 'publisher_closed':
      return 'publisher_closed';
    case 'kicked':
      return 'cut_off';
    case 'server_closed':
      return 'transcoder_shutdown';
    case 'publisher_lost':
    case 'protocol_error':
      return 'publisher_lost';
  }
}

export class StreamPipeline {
  readonly #session: PublishSession<AuthorizeResponse>;
  readonly #deps: PipelineDeps;
  readonly #publish: PublishRef;
  readonly #outputs = new Map<RenditionName, RenditionOutput>();
  /** The source's keyframe interval its previous publish measured, when this one continues it. */
  readonly #keyframeIntervalHint: number | null;
  /**
   * FLV received before ffmpeg starts (the source probe): with the FLV header and codec
   * configuration, fed to the first run of every lane, so both lanes start on the same tag.
   */
  #heldInput: Buffer[] = [];
  #heldBytes = 0;
  #plan: LadderPlan | null = null;
  /** The stream's lanes: lane 0, and lane 1 while the stream has a hot standby. */
  readonly #pair: LanePair;
  #standbyWanted = false;
  #heartbeat: NodeJS.Timeout | null = null;
  /** A media tag arrived since the last heartbeat. */
  #mediaSinceBeat = false;
  #heartbeatsSent = 0;
  #probeTimer: NodeJS.Timeout | null = null;
  #awaitingAudio = false;
  #closing: Promise<void> | null = null;
  #stopMedia: (() => void) | null = null;
  /**
   * The ingest wall clock (epoch ms) of FLV timestamp 0: arrival time minus timestamp of the first
   * media tag. PROGRAM-DATE-TIME is stamped from it, so it says when the media reached us, not when
   * ffmpeg got round to it (the source probe alone takes up to 2.6 s).
   */
  #mediaZeroAt: number | null = null;
  /**
   * A dual publish's standby (AuthorizeResponse.standby) until the origin puts it on air: its gates
   * hold every part and its claim asks every STANDBY_CLAIM_INTERVAL_MS (docs/deploy.md, "Dual publish").
   */
  #waitingOnStandby: boolean;
  #standbyClaimTimer: NodeJS.Timeout | null = null;
  #claiming = false;
  /** The source relayed to a standby node, once this publish has been on air (docs/deploy.md). */
  #relay: SourceRelay | null = null;
  /** A yield is asking the origin: nothing else may close or demote meanwhile. */
  #handingOver = false;
  /** It gave up being the stream's standby (#abandonStandby): it only feeds the relay now. */
  #abandoned = false;

  constructor(session: PublishSession<AuthorizeResponse>, deps: PipelineDeps) {
    this.#session = session;
    this.#deps = deps;
    this.#publish = {
      channelId: session.grant.channel_id,
      publishId: session.grant.publish_id,
      traceId: session.traceId,
    };
    this.#keyframeIntervalHint = session.grant.source_keyframe_interval_ms ?? null;
    this.#waitingOnStandby = session.grant.standby === true;
    this.#pair = new LanePair({
      gates: () => [...this.#outputs].map(([name, output]) => [name, output.gate] as const),
      log: (fields) => this.#log(fields),
      ...(deps.partDeadlineMs === undefined ? {} : { partDeadlineMs: deps.partDeadlineMs }),
      ...(deps.loneLaneDeadlineMs === undefined ? {} : { loneLaneDeadlineMs: deps.loneLaneDeadlineMs }),
    });
  }

  start(): void {
    this.#stopMedia = this.#session.onMedia((tag) => this.#onTag(tag));
    this.#session.onClose((reason) => void this.close(reason));
    this.#heartbeat = setInterval(
      () => void this.#beat(),
      this.#deps.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
    );
    // The ladder depends on the source's GOP (passthrough needs 2 s), which takes two keyframes to
    // measure; ffmpeg starts on the tag that makes it known, or when the probe time is up. The tags
    // received meanwhile are replayed into ffmpeg, so nothing is lost, only the first part is later.
    // A publish that continues the stream (the encoder reconnecting, often through another node
    // after one died) is told the GOP its previous publish measured, and starts on its first media.
    this.#probeTimer = setTimeout(() => this.#startOnTimer(), SOURCE_PROBE_MAX_MS);
  }

  /**
   * Whether the ladder can be planned: the source's GOP is measured (or hinted, and video came), and
   * its audio came or is not coming. A publish's first video tag precedes its first audio one, so
   * audio the metadata announces (or, with no metadata, any audio) is waited for a moment; a source
   * whose audio never comes starts without it.
   */
  #sourceKnown(): boolean {
    const stats = this.#session.stats;
    const hinted =
      this.#keyframeIntervalHint !== null && stats.videoCodec !== null && stats.lastMediaTimestamp !== null;
    if (stats.keyframeIntervalMs === null && !hinted) return false;
    if (stats.audioCodec !== null || stats.audioAnnounced === false) return true;
    if (!this.#awaitingAudio) {
      this.#awaitingAudio = true;
      if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
      this.#probeTimer = setTimeout(() => this.#startOnTimer(), AUDIO_WAIT_MS);
    }
    return false;
  }

  /** The probe's time is up: plan with what is known. */
  #startOnTimer(): void {
    if (!this.#closing && !this.#pair.started) this.#startTranscode();
  }

  stats(): PipelineStats {
    const uploads: Partial<Record<RenditionName, UploadStats>> = {};
    for (const [name, output] of this.#outputs) uploads[name] = output.uploader.stats();
    const lanes = this.#pair.lanes();
    const runs = lanes.reduce((total, lane) => total + lane.runs, 0);
    return {
      streamId: this.#session.grant.stream_id,
      channelId: this.#session.grant.channel_id,
      renditions: [...this.#outputs.keys()],
      passthrough: this.#plan?.renditions.some((r) => r.kind === 'video' && r.videoMode === 'copy') ?? false,
      // Runs of the stream's transcode: a standby's first run is not a restart.
      ffmpegRuns: Math.max(0, runs - Math.max(0, lanes.length - 1)),
      ffmpegSpeed: this.#pair.active?.speed ?? null,
      heldInputBytes: this.#heldBytes + lanes.reduce((total, lane) => total + lane.heldBytes, 0),
      heartbeatsSent: this.#heartbeatsSent,
      uploads,
      standby: this.#standbyStats(),
      waitingOnStandby: this.#waitingOnStandby,
      relay: this.#relay?.stats() ?? null,
    };
  }

  #standbyStats(): StandbyStats | null {
    if (!this.#standbyWanted) return null;
    const gates: Partial<Record<RenditionName, GateStats>> = {};
    for (const [name, output] of this.#outputs) gates[name] = output.gate.stats();
    const standby = this.#pair.standby;
    return {
      running: standby?.running ?? false,
      pid: standby?.pid ?? null,
      promotions: this.#pair.promotions,
      seamlessPromotions: this.#pair.seamlessPromotions,
      shed: this.#pair.shed,
      gates,
    };
  }

  /** What the origin derives the dashboard's health warnings from (protocol/ingest.ts SourceHealth). */
  #describeHealth(): SourceHealth {
    const stats = this.#session.stats;
    return {
      bytes_in: stats.bytesIn,
      source_fps: stats.frameRate,
      encode_fps: this.#pair.active?.fps ?? null,
      keyframe_interval_ms: stats.keyframeIntervalMs === null ? null : Math.round(stats.keyframeIntervalMs),
      audio_present: stats.audioCodec !== null,
      encode_speed: this.#pair.active?.speed ?? null,
    };
  }

  /** The publish this pipeline uploads for: what a fleet node claims in its heartbeats. */
  get publishId(): string {
    return this.#publish.publishId;
  }

  /** The pid of the active ffmpeg, for supervision tests. */
  get ffmpegPid(): number | null {
    return this.#pair.active?.pid ?? null;
  }

  /** The pid of the hot standby's ffmpeg; null without a running standby. */
  get standbyPid(): number | null {
    return this.#pair.standby?.pid ?? null;
  }

  /** Every line names the stream, channel and trace it is about (the fields of common/log.ts). */
  #log(fields: LogEvent): void {
    this.#deps.log({
      stream_id: this.#session.grant.stream_id,
      channel_id: this.#session.grant.channel_id,
      trace_id: this.#session.traceId,
      publish_id: this.#session.grant.publish_id,
      ...fields,
    });
  }

  close(reason: PublishCloseReason): Promise<void> {
    this.#closing ??= this.#shutdown(reason);
    return this.#closing;
  }

  /** Gives up the hot standby (node load); the stream goes on with its active transcode alone. */
  shedStandby(): void {
    this.#shedStandby('node_load');
  }

  #onTag(tag: Buffer): void {
    if (this.#closing) return;
    const timestamp = readFlvMediaTimestamp(tag);
    if (timestamp !== null) {
      this.#mediaZeroAt ??= Date.now() - timestamp;
      this.#mediaSinceBeat = true;
    }
    if (!this.#pair.started) {
      this.#hold(tag);
      if (this.#sourceKnown()) this.#startTranscode();
      return;
    }
    this.#pair.push(tag, timestamp);
  }

  #hold(tag: Buffer): void {
    this.#heldInput.push(tag);
    this.#heldBytes += tag.length;
    if (this.#heldBytes > MAX_PENDING_INPUT_BYTES) this.#overloaded('probe buffer');
  }

  #takeHeldInput(): Buffer[] {
    const held = this.#heldInput;
    this.#heldInput = [];
    this.#heldBytes = 0;
    return held;
  }

  #overloaded(where: string): void {
    this.#log({
      level: 'warn',
      event: 'pipeline.overloaded',
      where,
    });
    this.#session.close('protocol_error');
  }

  #startTranscode(): void {
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    const measured = describeSource(this.#session.stats);
    const hint = this.#keyframeIntervalHint;
    const source = { ...measured, keyframeIntervalMs: measured.keyframeIntervalMs ?? hint };
    const keyframeIntervalFrom =
      measured.keyframeIntervalMs !== null ? 'measured' : hint !== null ? 'previous_publish' : 'unknown';
    const plan = planLadder({
      tier: this.#session.grant.tier,
      source,
      capacity: this.#deps.capacity.snapshot(),
    });
    this.#plan = plan;
    this.#deps.capacity.add(plan.encodes);
    // The active encodes grew: standbys (other streams', newest first) give way before any rendition.
    this.#deps.standbyBudget?.shedOverflow();
    for (const rendition of plan.renditions) {
      const partTarget =
        rendition.kind === 'video' ? computeVideoPartTarget(rendition.fps) : AUDIO_PART_TARGET_SECONDS;
      const uploader = this.#createUploader(rendition.name);
      const description = describeRendition(rendition, partTarget);
      this.#outputs.set(rendition.name, {
        plan: rendition,
        partTarget,
        uploader,
        // A dual publish's standby holds its one lane's parts as a gate holds a standby lane's.
        gate: new RenditionGate({
          active: this.#waitingOnStandby ? 1 : 0,
          send: (event) => uploader.enqueue(buildUploadItem(event, description)),
        }),
      });
    }
    const pixelRate = countEncodedPixelRate(plan);
    // A dual publish's standby is itself the standby: it runs no second lane of its own.
    const tierWantsStandby =
      !this.#waitingOnStandby && (this.#deps.hotStandbyTiers ?? []).includes(this.#session.grant.tier);
    this.#standbyWanted = tierWantsStandby && pixelRate <= MAX_STANDBY_ENCODED_PIXEL_RATE;
    if (tierWantsStandby && !this.#standbyWanted)
      this.#log({
        level: 'info',
        event: 'pipeline.standby_skipped',
        reason: 'pixel_rate',
        pixel_rate: pixelRate,
      });
    const budget = this.#deps.standbyBudget;
    // The standby costs what the active transcode costs: the same encodes (docs/benchmarks.md),
    // and at least one slot even for a copy-only ladder (its ffmpeg still demuxes and muxes).
    const release = !this.#standbyWanted
      ? null
      : budget === undefined
        ? () => {}
        : budget.tryAdmit(Math.max(1, plan.encodes), () => this.#shedStandby('node_load'));
    if (this.#standbyWanted && release === null) this.#pair.markShed();
    const { args, outputs } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: this.#deps.encoder,
      thumbnails: true,
      // Both lanes must encode bit-identically for a seamless promotion.
      deterministic: release !== null,
    });
    this.#log({
      level: 'info',
      event: 'pipeline.transcode_starting',
      renditions: plan.renditions.map((r) => (r.kind === 'video' ? `${r.name}:${r.videoMode}` : r.name)),
      dropped_for_load: plan.droppedForLoad,
      source,
      keyframe_interval_from: keyframeIntervalFrom,
      encoder: this.#deps.encoder,
      hot_standby: this.#standbyWanted ? (release === null ? 'refused_for_load' : 'running') : 'off',
      ...(this.#waitingOnStandby ? { dual_publish: 'standby' } : {}),
    });
    const held = this.#takeHeldInput();
    this.#pair.begin(
      this.#createLane(0, args, outputs),
      release === null ? null : { lane: this.#createLane(1, args, outputs), release },
    );
    for (const lane of this.#pair.lanes()) lane.start(held);
    if (this.#waitingOnStandby) this.#startClaiming();
    else this.#startRelay();
  }

  #startClaiming(): void {
    if (this.#standbyClaimTimer !== null) return;
    this.#standbyClaimTimer = setInterval(() => void this.#claimAir(), STANDBY_CLAIM_INTERVAL_MS);
  }

  /**
   * A source this node holds (not itself a relay) of a relayed tier is copied to a standby node once
   * this publish is on air; the relay then runs as long as the publish, whichever side is on air.
   */
  #startRelay(): void {
    if (this.#relay !== null || this.#closing || this.#session.relay) return;
    if (!(this.#deps.relayStandbyTiers ?? []).includes(this.#session.grant.tier)) return;
    const session = this.#session;
    this.#relay = new SourceRelay({
      source: {
        streamKey: session.streamKey,
        onMedia: (listener) => session.onMedia(listener),
        hasVideo: () => session.stats.videoCodec !== null,
      },
      findTarget: () => this.#deps.client.relayTarget(this.#publish),
      log: (fields) => this.#log(fields),
      ...(this.#deps.relayRetryMs === undefined ? {} : { retryMs: this.#deps.relayRetryMs }),
    });
    this.#relay.start();
  }

  /**
   * The active transcode died with no in-node standby to take over: a standby elsewhere (a relay's,
   * or the encoder's dual publish) goes on air now, and this publish waits as its standby while its
   * ffmpeg restarts, rather than the stream waiting for the restart.
   */
  async #yieldAir(): Promise<void> {
    if (this.#handingOver || this.#closing || this.#waitingOnStandby) return;
    this.#handingOver = true;
    let cutOff = false;
    try {
      const answer = await this.#deps.client.yieldAir(this.#publish);
      if (answer.state === 'standby' && !this.#closing) this.#demote('yielded');
    } catch (error) {
      // Not on air any more: maybe its relay's standby took over already (#onCutOff asks). Any other
      // failure: the restart goes on as without a standby.
      cutOff = error instanceof CutOffError;
    } finally {
      this.#handingOver = false;
    }
    if (cutOff) this.#onCutOff();
  }

  /**
   * The origin refused an upload or heartbeat of this publish. A source being relayed may have been
   * replaced on air by its relay's standby (it fell silent): then it is that standby now and must keep
   * the encoder's connection, which feeds the relay. It waits as a standby, and its claims settle it:
   * `standby` it stays, `promoted` it goes back on air, 409 (it is neither) closes it. Otherwise the
   * publisher is dropped.
   */
  #onCutOff(): void {
    if (this.#closing) return;
    if (this.#waitingOnStandby) {
      // An upload from before the hand-over: the publish is the standby already.
      for (const output of this.#outputs.values()) output.uploader.resume();
      return;
    }
    // A yield in flight decides (its answer, or its own refusal, comes back here).
    if (this.#handingOver) return;
    if (this.#relay === null) {
      this.#session.close('kicked');
      return;
    }
    this.#demote('replaced');
  }

  /**
   * Its transcode keeps failing while it waits as the standby of its relay's publish on air: it stops
   * being the stream's standby (the origin forgets it, so nothing hands the air back to it) but keeps
   * the encoder's connection, which feeds the publish on air through the relay.
   */
  #abandonStandby(error: string): void {
    this.#log({ level: 'error', event: 'pipeline.standby_abandoned', error });
    this.#abandoned = true;
    if (this.#standbyClaimTimer !== null) clearInterval(this.#standbyClaimTimer);
    this.#standbyClaimTimer = null;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#deps.client.end(this.#publish, { reason: 'publisher_lost' }).catch((cause: unknown) => {
      this.#log({ level: 'warn', event: 'pipeline.end_not_reported', error: String(cause) });
    });
  }

  #demote(reason: 'yielded' | 'replaced'): void {
    this.#waitingOnStandby = true;
    // One transcode holds while it waits: an in-node standby (not running, or it had taken over) goes.
    this.#pair.shedStandby('handed_over');
    for (const output of this.#outputs.values()) {
      output.gate.demote();
      output.uploader.resume();
    }
    this.#startClaiming();
    this.#log({ level: 'warn', event: 'pipeline.standby_now', reason });
  }

  /** A dual publish's standby asks the origin whether the stream's other publish stopped. */
  async #claimAir(): Promise<void> {
    if (this.#claiming || this.#closing || !this.#waitingOnStandby) return;
    this.#claiming = true;
    try {
      const claim = await this.#deps.client.claimStandby(this.#publish);
      if (claim.state === 'promoted' && this.#waitingOnStandby && !this.#closing)
        this.#goOnAir(claim.next_msn, claim.after_pdt);
    } catch (error) {
      if (error instanceof CutOffError) {
        this.#log({ level: 'info', event: 'pipeline.standby_released' });
        this.#session.close('kicked');
      }
      // Anything else (the origin unreachable a moment) is asked again at the next claim.
    } finally {
      this.#claiming = false;
    }
  }

  #goOnAir(nextMsn: number, afterPdt: number): void {
    this.#waitingOnStandby = false;
    if (this.#standbyClaimTimer !== null) clearInterval(this.#standbyClaimTimer);
    this.#standbyClaimTimer = null;
    for (const output of this.#outputs.values()) {
      output.uploader.resume();
      output.gate.promoteRemote({ afterPdt, nextMsn });
    }
    this.#log({ level: 'warn', event: 'pipeline.standby_on_air', next_msn: nextMsn, after_pdt: afterPdt });
    this.#startRelay();
  }

  #createLane(id: LaneId, args: string[], outputs: TranscodeOutput[]): TranscodeLane {
    const session = this.#session;
    return new TranscodeLane({
      args,
      outputs,
      packager: (name) => {
        const output = this.#outputs.get(name);
        return {
          firstMsn: session.grant.next_msn,
          // Replaced by reset() with the ingest clock of the run's first tag before any part exists.
          wallClockAtTimeZero: Date.now(),
          ...(output?.plan.kind === 'video' ? { partTarget: output.partTarget } : {}),
        };
      },
      source: {
        readStartBytes: () => {
          let start: Buffer = Buffer.alloc(0);
          // The session hands a new listener the FLV header and the codec configuration at once.
          session.onMedia((bytes) => {
            start = bytes;
          })();
          return start;
        },
        hasVideo: () => session.stats.videoCodec !== null,
        mediaZeroAt: () => this.#mediaZeroAt,
      },
      onRun: (runNumber) => {
        this.#deps.requestKeyframe?.();
        if (runNumber > 1) this.#pair.standbyRestarted(id);
        // A waiting dual-publish standby's held parts belong to the run that died.
        if (runNumber > 1 && this.#waitingOnStandby)
          for (const output of this.#outputs.values()) output.gate.resetStandby();
      },
      onEvent: (name, event, leftover) => this.#onLaneEvent(id, name, event, leftover),
      onThumbnail: (jpeg) => {
        if (!this.#pair.isActive(id) || this.#waitingOnStandby) return;
        this.#deps.client.putThumbnail(this.#publish, jpeg).catch((error: unknown) => {
          if (error instanceof CutOffError) this.#onCutOff();
        });
      },
      onExit: (code, signal, stderr) => this.#onLaneExit(id, code, signal, stderr),
      onFatal: (error) => {
        if (!this.#pair.isActive(id)) {
          this.#shedStandby('standby_failing');
          return;
        }
        if (this.#waitingOnStandby && this.#relay !== null) {
          this.#abandonStandby(error.message);
          return;
        }
        this.#log({ level: 'error', event: 'pipeline.ffmpeg_failing', error: error.message });
        this.#session.close('protocol_error');
      },
      onOverloaded: (where) => {
        // A standby that cannot keep up is given up; only the active lane's backlog drops the publisher.
        if (!this.#pair.isActive(id)) this.#shedStandby('standby_behind');
        else this.#overloaded(where);
      },
      onPipeError: (name, error) => {
        this.#log({
          level: 'warn',
          event: name === 'thumbnail' ? 'pipeline.thumbnail_pipe_failed' : 'pipeline.rendition_pipe_failed',
          ...(name === 'thumbnail' ? {} : { rendition: name }),
          error: String(error),
        });
      },
    });
  }

  #onLaneEvent(id: LaneId, name: RenditionName, event: PackagerEvent, leftover: boolean): void {
    const output = this.#outputs.get(name);
    if (output === undefined || !this.#pair.has(id)) return;
    // The open segment a dead run left: the active lane's is closed as it is (a plain restart, as
    // without a standby); a standby's belongs to the dead run and is worthless.
    if (leftover && !this.#pair.isActive(id)) return;
    if (event.kind === 'part') this.#pair.recordPart(id, event.pdt + event.duration * 1000);
    output.gate.offer(id, event);
  }

  #onLaneExit(id: LaneId, code: number | null, signal: NodeJS.Signals | null, stderr: string[]): void {
    if (this.#closing || !this.#pair.has(id)) return;
    const active = this.#pair.isActive(id);
    const role = this.#standbyWanted ? { lane: active ? 'active' : 'standby' } : {};
    const promoted = active ? this.#pair.promote('ffmpeg_exit') : null;
    this.#log({ level: 'warn', event: 'pipeline.ffmpeg_restarting', ...role, code, signal, stderr });
    if (active && promoted === null && !this.#waitingOnStandby) void this.#yieldAir();
  }

  #shedStandby(reason: ShedReason): void {
    if (this.#closing) return;
    this.#pair.shedStandby(reason);
  }

  #createUploader(rendition: RenditionName): RenditionUploader {
    const uploader = new RenditionUploader({
      sink: this.#deps.client,
      publish: this.#publish,
      ...(this.#deps.maxUploadBacklogSeconds === undefined
        ? {}
        : { maxBacklogSeconds: this.#deps.maxUploadBacklogSeconds }),
      log: (message) => this.#log({ level: 'warn', event: 'pipeline.upload_warning', message, rendition }),
    });
    uploader.onCutOff(() => this.#onCutOff());
    // The origin has been unreachable for the whole backlog: drop the publisher rather than queue
    // without bound; OBS reconnects, and the origin continues the stream inside its reconnect window.
    uploader.onOverflow(() => this.#session.close('publisher_lost'));
    return uploader;
  }

  /**
   * Says the publisher is alive, so only when media came since the last beat: a publisher that went
   * silent (half-open TCP) must let the origin's 10 s publisher timeout fire and end the stream.
   */
  async #beat(): Promise<void> {
    if (!this.#mediaSinceBeat) return;
    this.#mediaSinceBeat = false;
    this.#heartbeatsSent += 1;
    try {
      await this.#deps.client.heartbeat(this.#publish, this.#describeHealth());
    } catch (error) {
      if (error instanceof CutOffError) {
        this.#log({
          level: 'info',
          event: 'pipeline.cut_off',
        });
        this.#onCutOff();
      }
    }
  }

  async #shutdown(reason: PublishCloseReason): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#standbyClaimTimer) clearInterval(this.#standbyClaimTimer);
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#stopMedia?.();
    // The encoder stopping is passed on (the relay unpublishes); anything else looks like a lost link.
    this.#relay?.close({ graceful: reason === 'publisher_closed' });
    this.#takeHeldInput();
    await this.#pair.close();
    if (this.#plan) this.#deps.capacity.add(-this.#plan.encodes);
    await Promise.all(
      [...this.#outputs.values()].map((output) => output.uploader.close(UPLOAD_FLUSH_DEADLINE_MS)),
    );
    if (reason !== 'kicked' && !this.#abandoned) {
      await this.#deps.client.end(this.#publish, { reason: toEndReason(reason) }).catch((error: unknown) => {
        this.#log({
          level: 'warn',
          event: 'pipeline.end_not_reported',
          error: String(error),
        });
      });
    }
    this.#log({
      level: 'info',
      event: 'pipeline.closed',
      reason,
      ...this.stats(),
    });
  }
}
