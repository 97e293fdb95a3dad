// WHEP playback (draft-ietf-wish-whep) on the WHIP port: `POST /whep/{channel_id or stream_id}` with
// a viewer's receive-only SDP offer answers 201 with a send-only H.264 answer, a Location and an
// ETag; `DELETE` on the Location ends it. The media is the live publish's own H.264 (RTMP or WHIP),
// read from the PublishSession the pipeline reads, only while the stream has WHEP viewers; a source
// with B-frames is re-encoded without them for its viewers (realtime-encoder.ts). A viewer
// needs no credential (LL-HLS playback needs none either); the session URL is an unguessable UUID.
// Bounded like WHIP: the offer's size, offers in flight, and viewers per node (503 + Retry-After,
// after which the player falls back to LL-HLS).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogSink } from '../log.ts';
import type { PublishSession } from '../rtmp/publish-session.ts';
import { CORS_HEADERS, HttpError, readBody, requireSdpContentType } from '../whip/http-common.ts';
import { MAX_OFFER_BYTES, OfferError } from '../whip/sdp-offer.ts';
import type { IceOptions } from '../whip/whip-session.ts';
import { type AccessUnit, AvcFeed } from './avc-feed.ts';
import type { FlvFedFfmpeg } from './flv-fed-ffmpeg.ts';
import { createOpusEncoder } from './opus-encoder.ts';
import { createRealtimeEncoder } from './realtime-encoder.ts';
import { readViewerOffer } from './viewer-offer.ts';
import { WhepViewer } from './whep-viewer.ts';

export const DEFAULT_MAX_VIEWERS = 100;
const DEFAULT_MAX_PENDING = 16;
export const DEFAULT_MAX_REALTIME_ENCODES = 2;

/** The node's real-time rendition slots, shared by its streams. */
interface EncodeSlots {
  available(): boolean;
  take(): boolean;
  give(): void;
}
/** A keyframe asked of a WHIP publisher for a joining viewer at most this often. */
const KEYFRAME_REQUEST_INTERVAL_MS = 1_000;
/** Tries at gathering ICE candidates on the shared port, and the pause between them. */
const GATHER_ATTEMPTS = 3;
const GATHER_RETRY_MS = 250;
const SOURCE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_PATH = /^\/whep\/sessions\/([0-9a-f-]{36})$/;

export interface WhepServiceOptions {
  readonly ice: IceOptions;
  readonly log: LogSink;
  /** WebRTC viewers on this node, all streams together. */
  readonly maxViewers?: number;
  /** Real-time renditions (B-frame-free re-encodes) this node runs at once. */
  readonly maxRealtimeEncodes?: number;
  readonly maxPending?: number;
  readonly connectTimeoutMs?: number;
}

/** One live publish that viewers can join: its FLV is read only while it has viewers. */
class LiveSource {
  readonly names: readonly string[];
  readonly session: PublishSession<unknown>;
  readonly viewers = new Set<WhepViewer>();
  readonly #requestKeyframe: (() => void) | undefined;
  readonly #log: LogSink;
  readonly #slots: EncodeSlots;
  #feed: AvcFeed | null = null;
  #stopMedia: (() => void) | null = null;
  #opus: FlvFedFfmpeg | null = null;
  /**
   * How the video reaches viewers, decided on the source's first keyframe: its own H.264, or the
   * real-time rendition when it has B-frames. Kept for the session's life (its encoder is not).
   */
  #video: 'undecided' | 'passthrough' | 'realtime' = 'undecided';
  #realtime: FlvFedFfmpeg | null = null;
  #startBytes: Buffer | null = null;
  #lastKeyframeRequest = 0;

  constructor(
    names: readonly string[],
    session: PublishSession<unknown>,
    log: LogSink,
    slots: EncodeSlots,
    requestKeyframe?: () => void,
  ) {
    this.names = names;
    this.session = session;
    this.#log = log;
    this.#slots = slots;
    this.#requestKeyframe = requestKeyframe;
  }

  /** Starts reading the publish's FLV (its start bytes carry the AVC sequence header at once). */
  attach(): AvcFeed {
    if (this.#feed !== null) return this.#feed;
    const feed = new AvcFeed();
    this.#feed = feed;
    this.#startBytes = null;
    this.#stopMedia = this.session.onMedia((bytes) => {
      // The first call is the FLV header and sequence headers, which an Opus encoder starts from.
      this.#startBytes ??= bytes;
      this.#opus?.push(bytes);
      let units: ReturnType<AvcFeed['push']>;
      try {
        units = feed.push(bytes);
      } catch (error) {
        this.#log({ level: 'warn', event: 'whep.feed_failed', error: String(error) });
        for (const viewer of [...this.viewers]) viewer.close('source_ended');
        return;
      }
      this.#route(units, bytes);
    });
    return feed;
  }

  /** Sends the source's units to the viewers, or its FLV to the real-time encoder. */
  #route(units: readonly AccessUnit[], bytes: Buffer): void {
    if (this.#video === 'undecided') {
      const keyframe = units.find((unit) => unit.keyframe);
      if (keyframe === undefined) return;
      this.#video = keyframe.reordered ? 'realtime' : 'passthrough';
      if (this.#video === 'realtime') this.#startRealtime(bytes);
    } else if (this.#video === 'passthrough' && units.some((unit) => unit.reordered)) {
      // B-frames turned on mid-stream (an encoder reconfigured): the viewers are closed (their
      // players fall back, and an offer made now starts the rendition in addViewer). Closing the
      // last one detached this source, so nothing is started here for nobody.
      this.#log({ level: 'warn', event: 'whep.reordering_started', source: this.names[0] ?? '' });
      this.#video = 'realtime';
      for (const viewer of [...this.viewers]) viewer.close('source_ended');
      return;
    }
    if (this.#video === 'realtime') {
      this.#realtime?.push(bytes);
      return;
    }
    for (const unit of units) for (const viewer of this.viewers) viewer.send(unit);
  }

  /** True when this stream needs a real-time rendition the node has no slot for. */
  get realtimeRefused(): boolean {
    return this.#video === 'realtime' && this.#realtime === null && !this.#slots.available();
  }

  /**
   * Starts the encoder on the stream's start bytes; `pushedNext` (the bytes with the deciding
   * keyframe, possibly the start bytes themselves) is pushed by the caller right after. With no
   * slot free, the stream's viewers are closed: their players fall back to LL-HLS, and the next
   * offers are answered 503 until a slot frees.
   */
  #startRealtime(pushedNext: Buffer | null): void {
    const source = this.names[0] ?? '';
    if (!this.#slots.take()) {
      this.#log({ level: 'warn', event: 'whep.realtime_refused', source });
      for (const viewer of [...this.viewers]) viewer.close('source_ended');
      return;
    }
    const encoder = createRealtimeEncoder({
      profileIdc: this.#feed?.profileIdc ?? null,
      bitrate: this.session.stats.videoBitrate,
      onUnit: (unit) => {
        for (const viewer of this.viewers) viewer.send(unit);
      },
      onFailure: (event, error) => {
        this.#log({ level: 'warn', event, error, source });
        this.#stopRealtime();
        // Its viewers fall back to LL-HLS (the player does so when frames stop).
        for (const viewer of [...this.viewers]) viewer.close('source_ended');
      },
    });
    this.#realtime = encoder;
    if (this.#startBytes !== null && this.#startBytes !== pushedNext) encoder.push(this.#startBytes);
    this.#log({ event: 'whep.realtime_started', source, reason: 'b_frames' });
  }

  #stopRealtime(): void {
    if (this.#realtime === null) return;
    this.#realtime.close();
    this.#realtime = null;
    this.#slots.give();
  }

  /**
   * Adds an answered viewer. The first one starts the stream's Opus encoder (the FLV's AAC as
   * Opus), and a B-frame stream's real-time rendition: an offer that is refused, or never
   * answered, starts no process.
   */
  addViewer(viewer: WhepViewer): void {
    this.viewers.add(viewer);
    // A B-frame stream watched again (its encoder stopped with its last viewer, or had no slot).
    if (this.#video === 'realtime' && this.#realtime === null && this.#startBytes !== null) {
      this.#startRealtime(null);
    }
    if (this.#opus !== null || this.#startBytes === null || this.session.stats.audioCodec === null) return;
    this.#opus = createOpusEncoder({
      onPacket: (packet) => {
        for (const each of this.viewers) each.sendAudio(packet);
      },
      logError: (event, error) => this.#log({ level: 'warn', event, error, source: this.names[0] ?? '' }),
    });
    this.#opus.push(this.#startBytes);
  }

  /** Stops reading once the last viewer left: nothing is done for a stream nobody watches here. */
  detachIfUnwatched(): void {
    if (this.viewers.size > 0) return;
    this.#stopMedia?.();
    this.#stopMedia = null;
    this.#feed = null;
    this.#startBytes = null;
    this.#opus?.close();
    this.#opus = null;
    this.#stopRealtime();
  }

  /** A WHIP publisher sends a keyframe only when asked; an RTMP one on its own GOP. */
  requestKeyframe(): void {
    const now = Date.now();
    if (this.#requestKeyframe === undefined || now - this.#lastKeyframeRequest < KEYFRAME_REQUEST_INTERVAL_MS)
      return;
    this.#lastKeyframeRequest = now;
    this.#requestKeyframe();
  }
}

export class WhepService {
  readonly #options: WhepServiceOptions;
  readonly #sources = new Map<string, LiveSource>();
  readonly #viewers = new Map<string, { viewer: WhepViewer; source: LiveSource }>();
  #pending = 0;
  #realtimeEncodes = 0;
  readonly #slots: EncodeSlots = {
    available: () =>
      this.#realtimeEncodes < (this.#options.maxRealtimeEncodes ?? DEFAULT_MAX_REALTIME_ENCODES),
    take: () => {
      if (!this.#slots.available()) return false;
      this.#realtimeEncodes += 1;
      return true;
    },
    give: () => {
      this.#realtimeEncodes = Math.max(0, this.#realtimeEncodes - 1);
    },
  };

  constructor(options: WhepServiceOptions) {
    this.#options = options;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /**
   * Makes a live publish watchable under each of `names` (its channel id and stream id) until it
   * closes; a reconnecting publisher's new session replaces the old one under the same names.
   */
  addSource(names: readonly string[], session: PublishSession<unknown>, requestKeyframe?: () => void): void {
    const source = new LiveSource(names, session, this.#options.log, this.#slots, requestKeyframe);
    for (const name of names) this.#sources.set(name, source);
    session.onClose(() => {
      for (const name of names) if (this.#sources.get(name) === source) this.#sources.delete(name);
      for (const viewer of [...source.viewers]) viewer.close('source_ended');
      // With no viewer to close, nothing else would stop what the source still runs.
      source.detachIfUnwatched();
    });
  }

  close(): void {
    for (const { viewer } of [...this.#viewers.values()]) viewer.close('server_closed');
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const sessionId = SESSION_PATH.exec(path)?.[1];
    if (sessionId !== undefined) {
      const entry = this.#viewers.get(sessionId);
      if (entry === undefined) throw new HttpError(404, 'not_found', 'No such WHEP session');
      if (req.method === 'PATCH')
        throw new HttpError(405, 'method_not_allowed', 'Trickle ICE is not supported');
      if (req.method !== 'DELETE') throw new HttpError(405, 'method_not_allowed', 'DELETE ends the session');
      entry.viewer.close('viewer_closed');
      res.writeHead(200, CORS_HEADERS);
      res.end();
      return;
    }
    const name = path.slice('/whep/'.length);
    if (!SOURCE_NAME.test(name)) throw new HttpError(404, 'not_found', 'No such stream');
    if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'POST an SDP offer here');
    requireSdpContentType(req);
    if (this.#viewers.size + this.#pending >= (this.#options.maxViewers ?? DEFAULT_MAX_VIEWERS)) {
      throw new HttpError(503, 'node_full', 'This node serves no more WebRTC viewers: play LL-HLS', {
        'retry-after': '30',
      });
    }
    if (this.#pending >= (this.#options.maxPending ?? DEFAULT_MAX_PENDING)) {
      throw new HttpError(503, 'busy', 'Too many offers in flight', { 'retry-after': '1' });
    }
    const source = this.#sources.get(name);
    if (source === undefined) throw new HttpError(404, 'not_live', 'This stream is not live on this node');
    this.#pending += 1;
    try {
      const body = await readBody(req, MAX_OFFER_BYTES);
      await this.#answer(res, source, body);
    } finally {
      this.#pending -= 1;
      source.detachIfUnwatched();
    }
  }

  async #answer(res: ServerResponse, source: LiveSource, body: string): Promise<void> {
    if (source.session.closed) throw new HttpError(404, 'not_live', 'This stream is not live on this node');
    const feed = source.attach();
    if (feed.codecSupported === false) {
      throw new HttpError(406, 'source_not_h264', 'This stream is not H.264: play LL-HLS');
    }
    if (source.realtimeRefused) {
      throw new HttpError(503, 'realtime_busy', 'This node makes no more real-time renditions: play LL-HLS', {
        'retry-after': '30',
      });
    }
    let offer: ReturnType<typeof readViewerOffer>;
    try {
      offer = readViewerOffer(body, feed.profileIdc);
    } catch (error) {
      if (error instanceof OfferError) {
        throw new HttpError(error.kind === 'unsupported' ? 406 : 400, 'bad_offer', error.message);
      }
      throw error;
    }
    const id = randomUUID();
    let viewer: WhepViewer | null = null;
    let answer = '';
    for (let attempt = 1; viewer === null; attempt += 1) {
      const candidate = new WhepViewer({
        id,
        offer,
        ice: this.#options.ice,
        ...(this.#options.connectTimeoutMs === undefined
          ? {}
          : { connectTimeoutMs: this.#options.connectTimeoutMs }),
        logError: (event, error) => this.#options.log({ level: 'warn', event, error, whep_session: id }),
        onKeyframeRequest: () => source.requestKeyframe(),
      });
      try {
        answer = await candidate.answer();
        viewer = candidate;
      } catch (error) {
        candidate.close('viewer_lost');
        // Right after the last PeerConnection on the shared ICE port closed, libjuice may still be
        // releasing the port and a new one fails to gather (seen in whep-playback.test.ts): a
        // fresh PeerConnection a moment later binds it.
        if (attempt < GATHER_ATTEMPTS && String(error).includes('gather')) {
          this.#options.log({ level: 'warn', event: 'whep.gather_retry', whep_session: id, attempt });
          await new Promise((resolve) => setTimeout(resolve, GATHER_RETRY_MS));
          continue;
        }
        throw new HttpError(400, 'bad_offer', `The offer was refused: ${String(error).slice(0, 200)}`);
      }
    }
    if (source.session.closed) {
      viewer.close('source_ended');
      throw new HttpError(404, 'not_live', 'This stream is not live on this node');
    }
    this.#viewers.set(id, { viewer, source });
    source.addViewer(viewer);
    viewer.onClose((reason) => {
      this.#viewers.delete(id);
      source.viewers.delete(viewer);
      source.detachIfUnwatched();
      this.#options.log({
        event: 'whep.viewer_closed',
        whep_session: id,
        reason,
        units_sent: viewer.unitsSent,
        feedback: viewer.feedbackPackets,
      });
    });
    // The viewer starts on a keyframe: ask a WHIP publisher for one now rather than in up to 2 s.
    source.requestKeyframe();
    this.#options.log({ event: 'whep.viewer_started', whep_session: id, source: source.names[0] ?? '' });
    res.writeHead(201, {
      ...CORS_HEADERS,
      'content-type': 'application/sdp',
      location: `/whep/sessions/${id}`,
      etag: `"${randomUUID()}"`,
    });
    res.end(answer);
  }
}
