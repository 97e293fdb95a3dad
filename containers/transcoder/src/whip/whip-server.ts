// The WHIP endpoint (RFC 9725) of an ingest node: `POST /whip` with an SDP offer and
// `Authorization: Bearer <stream key>` answers 201 with the SDP answer, a Location and an ETag;
// `DELETE` on the Location ends the session. The offer is read and the key is authorized with the
// origin (the same check an RTMP publish passes before NetStream.Publish.Start) BEFORE any
// PeerConnection, port or process exists, so a stranger or a garbage offer costs a bounded body read
// and nothing else. Every error is the JSON error body; CORS is open because the credential is the
// bearer token, never a cookie (a browser on the web app's origin publishes from the dashboard).
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTraceId } from '../../../../common/trace.ts';
import type { LogSink } from '../log.ts';
import type { AuthorizeResult } from '../rtmp/connection.ts';
import type { PublishCloseReason, PublishSession } from '../rtmp/publish-session.ts';
import { maskStreamKey } from '../rtmp/server.ts';
import { CORS_HEADERS, HttpError, readBody, requireSdpContentType, sendJsonError } from './http-common.ts';
import { MAX_OFFER_BYTES, OfferError, readOffer } from './sdp-offer.ts';
import { type IceOptions, WhipSession } from './whip-session.ts';

const DEFAULT_MAX_SESSIONS = 32;
/** Offers being authorized or answered at once; past this a POST gets 503 + Retry-After. */
const DEFAULT_MAX_PENDING = 16;
/** RFC 6750 §2.1 b64token, bounded: stream keys are `live_` + 43 base64url characters. */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]{1,256}=*)$/;

export interface WhipServerOptions<Grant> {
  readonly host: string;
  /** 0 = an ephemeral port (tests). */
  readonly port: number;
  readonly ice: IceOptions;
  /** `traceId`: the offer's trace id (common/trace.ts), for the authorize call to carry. */
  authorize(request: {
    streamKey: string;
    remoteAddress: string;
    traceId: string;
  }): Promise<AuthorizeResult<Grant>>;
  /**
   * Called once the session's media can be decoded (its first keyframe left the bridge), so the
   * pipeline plans its ladder on the real source; the session then emits FLV.
   */
  onPublish(session: PublishSession<Grant>, keyframes: { requestKeyframe(): void }): void;
  /**
   * An authorized publish that ended before any media could start a pipeline (ICE never connected,
   * the offer was refused by the WebRTC stack): the origin is told, as a pipeline would tell it.
   */
  onUnstarted(grant: Grant, reason: PublishCloseReason, traceId: string): void;
  readonly log: LogSink;
  readonly maxSessions?: number;
  readonly maxPending?: number;
  readonly mediaTimeoutMs?: number;
  /** WHEP playback (docs/webrtc.md) on the same port: `/whep/...` requests go to it. */
  readonly whep?: { handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> };
}

function sameKey(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class WhipServer<Grant> {
  readonly #options: WhipServerOptions<Grant>;
  readonly #server: Server;
  readonly #sessions = new Map<string, WhipSession<Grant>>();
  /** Keys with a session here or an offer in flight: one publisher per key on this node, as RTMP. */
  readonly #claimedKeys = new Set<string>();
  #pending = 0;

  constructor(options: WhipServerOptions<Grant>) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => {
        const httpError =
          error instanceof HttpError ? error : new HttpError(500, 'internal_error', 'Internal error');
        if (!(error instanceof HttpError)) {
          options.log({ level: 'error', event: 'whip.request_failed', error: String(error) });
        }
        if (!res.headersSent) sendJsonError(res, httpError);
        else res.destroy();
      });
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo | null)?.port ?? 0;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The pid of each session's bridge ffmpeg, for tests that check nothing is left running. */
  get bridgePids(): number[] {
    return [...this.#sessions.values()].flatMap((session) => session.bridgePid ?? []);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, resolve);
    });
  }

  async close(): Promise<void> {
    for (const session of [...this.#sessions.values()]) session.close('server_closed');
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://whip').pathname;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS_HEADERS, 'accept-post': 'application/sdp' });
      res.end();
      return;
    }
    if (this.#options.whep !== undefined && (path === '/whep' || path.startsWith('/whep/'))) {
      await this.#options.whep.handle(req, res, path);
      return;
    }
    if (path === '/whip') {
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'POST an SDP offer here');
      await this.#post(req, res);
      return;
    }
    const match = /^\/whip\/sessions\/([0-9a-f-]{36})$/.exec(path);
    const session = match?.[1] === undefined ? undefined : this.#sessions.get(match[1]);
    if (session === undefined) throw new HttpError(404, 'not_found', 'No such WHIP session');
    // RFC 9725 §4.3: trickle ICE and ICE restarts are optional; this server does neither.
    if (req.method === 'PATCH')
      throw new HttpError(405, 'method_not_allowed', 'Trickle ICE is not supported');
    if (req.method !== 'DELETE') throw new HttpError(405, 'method_not_allowed', 'DELETE ends the session');
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || !sameKey(token, session.session.streamKey)) {
      throw new HttpError(401, 'unauthorized', 'The session ends with the stream key that started it', {
        'www-authenticate': 'Bearer',
      });
    }
    session.close('publisher_closed');
    res.writeHead(200, CORS_HEADERS);
    res.end();
  }

  async #post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireSdpContentType(req);
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) {
      throw new HttpError(401, 'unauthorized', 'Send the stream key as Authorization: Bearer <key>', {
        'www-authenticate': 'Bearer',
      });
    }
    if (this.#sessions.size >= (this.#options.maxSessions ?? DEFAULT_MAX_SESSIONS)) {
      throw new HttpError(503, 'node_full', 'This node takes no more WebRTC publishers', {
        'retry-after': '30',
      });
    }
    if (this.#pending >= (this.#options.maxPending ?? DEFAULT_MAX_PENDING)) {
      throw new HttpError(503, 'busy', 'Too many offers in flight', { 'retry-after': '1' });
    }
    this.#pending += 1;
    try {
      const body = await readBody(req, MAX_OFFER_BYTES);
      let offer: ReturnType<typeof readOffer>;
      try {
        offer = readOffer(body);
      } catch (error) {
        if (error instanceof OfferError) {
          throw new HttpError(error.kind === 'unsupported' ? 406 : 400, 'bad_offer', error.message);
        }
        throw error;
      }
      if (this.#claimedKeys.has(token)) {
        throw new HttpError(409, 'already_publishing', 'This stream key is already publishing here');
      }
      this.#claimedKeys.add(token);
      let claimed = true;
      try {
        await this.#authorizeAndAnswer(req, res, token, offer);
        claimed = false;
      } finally {
        if (claimed) this.#claimedKeys.delete(token);
      }
    } finally {
      this.#pending -= 1;
    }
  }

  async #authorizeAndAnswer(
    req: IncomingMessage,
    res: ServerResponse,
    streamKey: string,
    offer: ReturnType<typeof readOffer>,
  ): Promise<void> {
    const remoteAddress = req.socket.remoteAddress ?? '';
    // A well-formed offer with a key is a publish attempt: from here on, one trace id names it on
    // every line this node logs and on every call to the origin (docs/operations.md).
    const traceId = createTraceId();
    this.#options.log({
      event: 'whip.offer_received',
      trace_id: traceId,
      remote_address: remoteAddress,
      stream_key_prefix: maskStreamKey(streamKey),
    });
    let result: AuthorizeResult<Grant>;
    try {
      result = await this.#options.authorize({ streamKey, remoteAddress, traceId });
    } catch {
      result = { ok: false, reason: 'unavailable' };
    }
    if (!result.ok) {
      this.#options.log({
        event: 'whip.publish_refused',
        trace_id: traceId,
        reason: result.reason,
        stream_key_prefix: maskStreamKey(streamKey),
      });
      switch (result.reason) {
        case 'bad_key':
          throw new HttpError(401, 'bad_stream_key', 'Unknown or reset stream key', {
            'www-authenticate': 'Bearer',
          });
        case 'already_publishing':
          throw new HttpError(409, 'already_publishing', 'This stream key is already publishing');
        case 'unavailable':
          throw new HttpError(503, 'origin_unavailable', 'Try again shortly', { 'retry-after': '5' });
      }
    }
    const id = randomUUID();
    const session = new WhipSession<Grant>({
      id,
      grant: result.grant,
      traceId,
      streamKey,
      remoteAddress,
      offer,
      ice: this.#options.ice,
      ...(this.#options.mediaTimeoutMs === undefined ? {} : { mediaTimeoutMs: this.#options.mediaTimeoutMs }),
      logError: (event, error) =>
        this.#options.log({ level: 'warn', event, error, whip_session: id, trace_id: traceId }),
    });
    this.#sessions.set(id, session);
    const grant = result.grant;
    session.onClose((reason) => {
      this.#sessions.delete(id);
      this.#claimedKeys.delete(streamKey);
      this.#options.log({ event: 'whip.session_closed', whip_session: id, trace_id: traceId, reason });
      if (!session.ready) this.#options.onUnstarted(grant, reason, traceId);
    });
    session.onReady(() =>
      this.#options.onPublish(session.session, { requestKeyframe: () => session.requestKeyframe() }),
    );
    let answer: string;
    try {
      answer = await session.answer();
    } catch (error) {
      session.close('protocol_error');
      throw new HttpError(400, 'bad_offer', `The offer was refused: ${String(error).slice(0, 200)}`);
    }
    this.#options.log({
      event: 'whip.publish_started',
      whip_session: id,
      trace_id: traceId,
      stream_key_prefix: maskStreamKey(streamKey),
      video: offer.video?.codec ?? 'none',
      audio: offer.audio === null ? 'none' : 'opus',
    });
    res.writeHead(201, {
      ...CORS_HEADERS,
      'content-type': 'application/sdp',
      location: `/whip/sessions/${id}`,
      etag: `"${randomUUID()}"`,
    });
    res.end(answer);
  }
}
