// One live stream through the transcoder: the RTMP session's FLV goes into one supervised ffmpeg,
// each rendition's CMAF pipe goes through its own packager and in-order uploader to the origin.
// The pipeline owns everything it starts and releases it on close(): nothing outlives the publish.
// One file on purpose (about 480 lines): the source probe, an ffmpeg restart and the shutdown all
// act on the same few fields (the held FLV, the current run and its time 0, the outputs), and
// split apart each half would need the other's private state; the FLV rules it relies on live in
// rtmp/flv.ts, the ladder in ffmpeg/, the uploads in upload/.
import type { Readable } from 'node:stream';
import type { AuthorizeResponse, EndRequest, RenditionName, SourceHealth } from '../../../protocol/ingest.ts';
import { CmafPackager, computeVideoPartTarget } from './cmaf/packager.ts';
import { buildTranscodeArgs, type VideoEncoder } from './ffmpeg/args.ts';
import {
  describeSource,
  type EncodeCapacity,
  type LadderPlan,
  planLadder,
  type RenditionPlan,
} from './ffmpeg/ladder.ts';
import { type FfmpegRun, FfmpegSupervisor } from './ffmpeg/supervisor.ts';
import { JpegSplitter } from './jpeg-splitter.ts';
import type { LogEvent, LogSink } from './log.ts';
import { isFlvVideoKeyframe, isFlvVideoTag, readFlvMediaTimestamp } from './rtmp/flv.ts';
import type { PublishCloseReason, PublishSession } from './rtmp/server.ts';
import { CutOffError, type IngestClient, type PublishRef } from './upload/ingest-client.ts';
import { RenditionUploader, type UploadStats } from './upload/rendition-uploader.ts';
import { buildUploadItem, type RenditionDescription } from './upload/upload-items.ts';

/** How long to watch the source for its keyframe interval before planning the ladder. */
const SOURCE_PROBE_MAX_MS = 2_600;
/** Well inside the origin's 10 s publisher timeout, so two lost beats in a row still do not end the stream. */
const HEARTBEAT_INTERVAL_MS = 2_000;
/** FLV waiting for ffmpeg beyond this means the host cannot keep up: drop the publisher. */
const MAX_PENDING_INPUT_BYTES = 32 * 1024 * 1024;
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
}

interface RenditionOutput {
  plan: RenditionPlan;
  packager: CmafPackager;
  uploader: RenditionUploader;
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
  /**
   * FLV received while no ffmpeg runs: during the source probe all of it (with the FLV header and
   * codec configuration), fed to the first run; between a crash and the restart, the tags from the
   * first keyframe on, fed to the new run after the start bytes it gets from the session.
   */
  #heldInput: Buffer[] = [];
  #heldBytes = 0;
  #plan: LadderPlan | null = null;
  #supervisor: FfmpegSupervisor | null = null;
  #run: FfmpegRun | null = null;
  /** After an ffmpeg (re)start, media waits for the next keyframe so every run begins decodable. */
  #awaitingKeyframe = false;
  #runs = 0;
  #heartbeat: NodeJS.Timeout | null = null;
  /** A media tag arrived since the last heartbeat. */
  #mediaSinceBeat = false;
  #heartbeatsSent = 0;
  #probeTimer: NodeJS.Timeout | null = null;
  #closing: Promise<void> | null = null;
  #stopMedia: (() => void) | null = null;
  /**
   * The ingest wall clock (epoch ms) of FLV timestamp 0: arrival time minus timestamp of the first
   * media tag. PROGRAM-DATE-TIME is stamped from it, so it says when the media reached us, not when
   * ffmpeg got round to it (the source probe alone takes up to 2.6 s).
   */
  #mediaZeroAt: number | null = null;
  /** FLV timestamp of the first media tag fed to the current ffmpeg run (its output time 0). */
  #runFirstTimestamp: number | null = null;
  #runStartKnown: Array<(wallClock: number) => void> = [];

  constructor(session: PublishSession<AuthorizeResponse>, deps: PipelineDeps) {
    this.#session = session;
    this.#deps = deps;
    this.#publish = {
      channelId: session.grant.channel_id,
      publishId: session.grant.publish_id,
      traceId: session.traceId,
    };
  }

  start(): void {
    const probeStarted = Date.now();
    this.#stopMedia = this.#session.onMedia((tag) => this.#onTag(tag));
    this.#session.onClose((reason) => void this.close(reason));
    this.#heartbeat = setInterval(
      () => void this.#beat(),
      this.#deps.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
    );
    // The ladder depends on the source's GOP (passthrough needs 2 s), which takes two keyframes to
    // measure; ffmpeg starts once it is known or the probe time is up. The tags received meanwhile
    // are replayed into ffmpeg, so nothing is lost, only the first part is later.
    const probe = () => {
      if (this.#closing) return;
      const stats = this.#session.stats;
      if (stats.keyframeIntervalMs !== null || Date.now() - probeStarted >= SOURCE_PROBE_MAX_MS) {
        this.#startTranscode();
      } else {
        this.#probeTimer = setTimeout(probe, 100);
      }
    };
    probe();
  }

  stats(): PipelineStats {
    const uploads: Partial<Record<RenditionName, UploadStats>> = {};
    for (const [name, output] of this.#outputs) uploads[name] = output.uploader.stats();
    return {
      streamId: this.#session.grant.stream_id,
      channelId: this.#session.grant.channel_id,
      renditions: [...this.#outputs.keys()],
      passthrough: this.#plan?.renditions.some((r) => r.kind === 'video' && r.videoMode === 'copy') ?? false,
      ffmpegRuns: this.#runs,
      ffmpegSpeed: this.#supervisor?.speed ?? null,
      heldInputBytes: this.#heldBytes,
      heartbeatsSent: this.#heartbeatsSent,
      uploads,
    };
  }

  /** What the origin derives the dashboard's health warnings from (protocol/ingest.ts SourceHealth). */
  #describeHealth(): SourceHealth {
    const stats = this.#session.stats;
    return {
      bytes_in: stats.bytesIn,
      source_fps: stats.frameRate,
      encode_fps: this.#supervisor?.fps ?? null,
      keyframe_interval_ms: stats.keyframeIntervalMs === null ? null : Math.round(stats.keyframeIntervalMs),
      audio_present: stats.audioCodec !== null,
      encode_speed: this.#supervisor?.speed ?? null,
    };
  }

  /** The publish this pipeline uploads for: what a fleet node claims in its heartbeats. */
  get publishId(): string {
    return this.#publish.publishId;
  }

  /** The pid of the current ffmpeg, for supervision tests. */
  get ffmpegPid(): number | null {
    return this.#run?.pid ?? null;
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

  #onTag(tag: Buffer): void {
    if (this.#closing) return;
    const timestamp = readFlvMediaTimestamp(tag);
    if (timestamp !== null) {
      this.#mediaZeroAt ??= Date.now() - timestamp;
      this.#mediaSinceBeat = true;
    }
    const run = this.#run;
    if (run === null) {
      this.#hold(tag);
      return;
    }
    this.#feed(run, tag, timestamp);
  }

  #hold(tag: Buffer): void {
    // Between an ffmpeg exit and its restart: the new run must start on a keyframe (it is handed the
    // codec configuration afresh), so what comes before the first one is dropped, not kept forever.
    const restarting = this.#supervisor !== null;
    if (restarting && this.#heldInput.length === 0 && !this.#opensGop(tag)) return;
    this.#heldInput.push(tag);
    this.#heldBytes += tag.length;
    if (this.#heldBytes > MAX_PENDING_INPUT_BYTES)
      this.#overloaded(restarting ? 'restart buffer' : 'probe buffer');
  }

  /** A tag a decoder can start on: a video keyframe, or any tag of a source without video. */
  #opensGop(tag: Buffer): boolean {
    return this.#session.stats.videoCodec === null ? true : isFlvVideoKeyframe(tag);
  }

  #feed(run: FfmpegRun, tag: Buffer, timestamp: number | null): void {
    if (this.#awaitingKeyframe && isFlvVideoTag(tag)) {
      if (!isFlvVideoKeyframe(tag)) return;
      this.#awaitingKeyframe = false;
    }
    if (this.#awaitingKeyframe && timestamp !== null) return;
    if (timestamp !== null) this.#noteRunStart(timestamp);
    run.stdin.write(tag);
    if (run.stdin.writableLength > MAX_PENDING_INPUT_BYTES) this.#overloaded('ffmpeg input');
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
    const source = describeSource(this.#session.stats);
    const plan = planLadder({
      tier: this.#session.grant.tier,
      source,
      capacity: this.#deps.capacity.snapshot(),
    });
    this.#plan = plan;
    this.#deps.capacity.add(plan.encodes);
    const { args, outputs } = buildTranscodeArgs(plan, {
      input: 'pipe:0',
      inputFormat: 'flv',
      encoder: this.#deps.encoder,
      thumbnails: true,
    });
    for (const rendition of plan.renditions) {
      this.#outputs.set(rendition.name, {
        plan: rendition,
        packager: new CmafPackager({
          firstMsn: this.#session.grant.next_msn,
          // Replaced by reset() with the ingest clock of the run's first tag before any part exists.
          wallClockAtTimeZero: Date.now(),
          ...(rendition.kind === 'video' ? { partTarget: computeVideoPartTarget(rendition.fps) } : {}),
        }),
        uploader: this.#createUploader(rendition.name),
      });
    }
    this.#log({
      level: 'info',
      event: 'pipeline.transcode_starting',
      renditions: plan.renditions.map((r) => (r.kind === 'video' ? `${r.name}:${r.videoMode}` : r.name)),
      dropped_for_load: plan.droppedForLoad,
      source,
      encoder: this.#deps.encoder,
    });
    const supervisor = new FfmpegSupervisor({ args, outputFds: outputs.map((output) => output.fd) });
    this.#supervisor = supervisor;
    supervisor.onRun((run) =>
      this.#onRun(
        run,
        outputs.map((output) => output.rendition),
      ),
    );
    supervisor.onExit((code, signal, run) => {
      if (this.#run === run) this.#run = null;
      if (!this.#closing) {
        this.#log({
          level: 'warn',
          event: 'pipeline.ffmpeg_restarting',
          code,
          signal,
          stderr: supervisor.stderrTail.slice(-5),
        });
      }
    });
    supervisor.onFatal((error) => {
      this.#log({
        level: 'error',
        event: 'pipeline.ffmpeg_failing',
        error: error.message,
      });
      this.#session.close('protocol_error');
    });
    supervisor.start();
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
    uploader.onCutOff(() => this.#session.close('kicked'));
    // The origin has been unreachable for the whole backlog: drop the publisher rather than queue
    // without bound; OBS reconnects, and the origin continues the stream inside its reconnect window.
    uploader.onOverflow(() => this.#session.close('publisher_lost'));
    return uploader;
  }

  /** Records the first media tag a run gets: its output time 0, known as an ingest wall clock. */
  #noteRunStart(timestamp: number): void {
    if (this.#runFirstTimestamp !== null) return;
    this.#runFirstTimestamp = timestamp;
    const wallClock = (this.#mediaZeroAt ?? Date.now()) + timestamp;
    for (const resolve of this.#runStartKnown.splice(0)) resolve(wallClock);
  }

  /** Resolves with the wall clock of the current run's output time 0, once its first tag is fed. */
  #whenRunStarts(): Promise<number> {
    if (this.#runFirstTimestamp !== null) {
      return Promise.resolve((this.#mediaZeroAt ?? Date.now()) + this.#runFirstTimestamp);
    }
    return new Promise((resolve) => this.#runStartKnown.push(resolve));
  }

  #onRun(run: FfmpegRun, names: Array<RenditionName | 'thumbnail'>): void {
    this.#runs += 1;
    this.#runFirstTimestamp = null;
    this.#deps.requestKeyframe?.();
    const restart = this.#runs > 1;
    const runStart = this.#whenRunStarts();
    run.outputs.forEach((readable, index) => {
      const name = names[index];
      if (name === 'thumbnail') void this.#pumpThumbnails(readable);
      else if (name !== undefined) void this.#pumpRendition(name, readable, restart, runStart);
    });
    if (restart) {
      // The new process must not start mid-GOP: the session replays the FLV header and the codec
      // configuration to the new listener first, then the tags held since the first keyframe of
      // the gap (if one came) go in, and otherwise the next keyframe opens the way.
      this.#stopMedia?.();
      this.#awaitingKeyframe = this.#session.stats.videoCodec !== null;
      this.#run = run;
      this.#stopMedia = this.#session.onMedia((tag) => this.#onTag(tag));
      for (const tag of this.#takeHeldInput()) this.#feed(run, tag, readFlvMediaTimestamp(tag));
      return;
    }
    for (const tag of this.#takeHeldInput()) {
      const timestamp = readFlvMediaTimestamp(tag);
      if (timestamp !== null) this.#noteRunStart(timestamp);
      run.stdin.write(tag);
    }
    this.#run = run;
  }

  async #pumpRendition(
    name: RenditionName,
    readable: Readable,
    restart: boolean,
    runStart: Promise<number>,
  ): Promise<void> {
    const output = this.#outputs.get(name);
    if (output === undefined) return;
    const { packager, plan } = output;
    // ffmpeg writes nothing before its first input tag, so waiting here loses no bytes: they stay
    // in the pipe until the packager knows the wall clock of this run's time 0.
    const wallClock = await runStart;
    const leftovers = packager.reset(wallClock);
    if (restart) for (const event of leftovers) this.#enqueue(output, event);
    try {
      await packager.consume(readable, (event) => {
        this.#enqueue(output, event);
      });
    } catch (error) {
      this.#log({
        level: 'warn',
        event: 'pipeline.rendition_pipe_failed',
        rendition: plan.name,
        error: String(error),
      });
    }
  }

  #enqueue(output: RenditionOutput, event: Parameters<typeof buildUploadItem>[0]): void {
    const partTarget = output.packager.partTarget ?? 0.2;
    output.uploader.enqueue(buildUploadItem(event, describeRendition(output.plan, partTarget)));
  }

  async #pumpThumbnails(readable: Readable): Promise<void> {
    const splitter = new JpegSplitter();
    try {
      for await (const chunk of readable) {
        for (const jpeg of splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)))) {
          this.#deps.client.putThumbnail(this.#publish, jpeg).catch((error: unknown) => {
            if (error instanceof CutOffError) this.#session.close('kicked');
          });
        }
      }
    } catch (error) {
      this.#log({ level: 'warn', event: 'pipeline.thumbnail_pipe_failed', error: String(error) });
    }
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
        this.#session.close('kicked');
      }
    }
  }

  async #shutdown(reason: PublishCloseReason): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#stopMedia?.();
    this.#takeHeldInput();
    this.#run?.stdin.end();
    await this.#supervisor?.close();
    if (this.#plan) this.#deps.capacity.add(-this.#plan.encodes);
    await Promise.all(
      [...this.#outputs.values()].map((output) => output.uploader.close(UPLOAD_FLUSH_DEADLINE_MS)),
    );
    if (reason !== 'kicked') {
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
