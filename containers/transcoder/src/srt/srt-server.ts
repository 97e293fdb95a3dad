// The SRT listener of an ingest node: one UDP port for every SRT publisher, the caller-listener
// HSv5 handshake (draft-sharabayko-srt-01 §4.3.1) written here over node:dgram, so the stream key is
// checked BEFORE a connection (or its media) is accepted, which an ffmpeg/libsrt listener cannot do.
//
// - Induction is stateless: the reply carries a SYN cookie (an HMAC of the caller's address, port
//   and the minute, §4.3.1.1), so a flood of inductions costs one HMAC and one reply of the same
//   size each, and holds nothing.
// - A conclusion with a valid cookie is a publish attempt. Before anything is asked of the origin it
//   must carry a stream key (SID, plain or `#!::r=<key>,m=publish`) and Key Material (a passphrase is
//   required: a caller without one is refused SRT_REJ_UNSECURE), and pass the same pre-auth guard RTMP
//   strangers pass (rate and count per network, total). Then the channel's passphrase is fetched
//   (a read-only lookup: a bad key is refused with nothing created), the KM is unwrapped with it (a
//   wrong passphrase fails RFC 3394's check: SRT_REJ_BADSECRET, nothing created), and only then is
//   the publish authorized, as RTMP and WHIP authorize theirs. A refusal is a handshake whose type is
//   the rejection code, which libsrt reports to the caller.
// - Garbage (short, oversized, unknown socket, wrong source address) is dropped after a header read.
// Limits and what a caller sees are tabled in docs/security.md; the design is in docs/srt.md.
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { toClientNetwork } from '../../../../common/client-network.ts';
import { createTraceId } from '../../../../common/trace.ts';
import type { LogSink } from '../log.ts';
import type { AuthorizeResult } from '../rtmp/connection.ts';
import type { GuardedConnection, PreAuthGuard, PreAuthStage } from '../rtmp/pre-auth-guard.ts';
import type { PublishCloseReason, PublishSession } from '../rtmp/publish-session.ts';
import { maskStreamKey } from '../rtmp/server.ts';
import { type KeyMaterial, readKeyMaterial, unwrapKeys } from './key-material.ts';
import {
  ControlType,
  ExtensionType,
  encodePeerIp,
  type Handshake,
  HandshakeType,
  HsExtFlag,
  type HsReq,
  Rejection,
  readHandshake,
  readHsReq,
  readPacket,
  readStreamId,
  readStreamKey,
  SRT_MAGIC,
  SrtFlag,
  writeControl,
  writeHandshake,
  writeHsRsp,
} from './packet.ts';
import { SrtSession } from './srt-session.ts';

const DEFAULT_MAX_SESSIONS = 32;
export const DEFAULT_LATENCY_MS = 120;
/** libsrt's own bound on SRTO_LATENCY is far higher; past a few seconds SRT is the wrong tool. */
export const MAX_LATENCY_MS = 8_000;
/** "Maximum Flow Window Size" we advertise, and the receive buffer's packet bound. */
const FLOW_WINDOW_PACKETS = 8_192;
/** 8192 packets of 1316 bytes: ~10 MiB, the receive buffer's byte bound per session. */
const DEFAULT_MAX_BUFFER_BYTES = 12 * 1024 * 1024;
const MTU = 1_500;
/** The version a listener answers HSv5 with (§4.3.1.1: "Version 5"), and the SRT version we claim. */
const HS_VERSION_5 = 5;
const SRT_VERSION = 0x0001_0501;
/** Our flags in the HSRSP: TSBPD both ways, too-late drop, periodic NAK, retransmit flag, crypto. */
const HSRSP_FLAGS =
  SrtFlag.TSBPDSND |
  SrtFlag.TSBPDRCV |
  SrtFlag.CRYPT |
  SrtFlag.TLPKTDROP |
  SrtFlag.PERIODICNAK |
  SrtFlag.REXMITFLG;
/** A refusal is remembered this long, so the caller's retransmitted conclusions get it again cheaply. */
const REFUSAL_MEMORY_MS = 10_000;
const MAX_REMEMBERED_REFUSALS = 1_024;
/** What a pending conclusion holds, for the guard's byte budget: the handshake it carried. */
const PENDING_HELD_BYTES = 1_500;

export interface SrtServerOptions<Grant> {
  readonly host: string;
  /** 0 = an ephemeral port (tests). */
  readonly port: number;
  /** The receiver's TSBPD delay; the agreed latency is the greater of this and the caller's. */
  readonly latencyMs?: number;
  /**
   * The channel's SRT passphrase, from the origin, for a stream key. A read-only lookup: nothing
   * is created for a bad key (and the origin is not asked to authorize one).
   */
  passphrase(request: {
    streamKey: string;
    traceId: string;
  }): Promise<{ ok: true; passphrase: string } | { ok: false; reason: 'bad_key' | 'unavailable' }>;
  authorize(request: {
    streamKey: string;
    remoteAddress: string;
    traceId: string;
    /** `backup=1` in the access-control streamid: a dual publish's second connection (docs/srt.md). */
    backup: boolean;
  }): Promise<AuthorizeResult<Grant>>;
  /** Called once the session's first keyframe left the bridge; the session then emits FLV. */
  onPublish(session: PublishSession<Grant>): void;
  /** An authorized publish that ended before any media started a pipeline: the origin is told. */
  onUnstarted(grant: Grant, reason: PublishCloseReason, traceId: string): void;
  /** The strangers' allowance, shared with RTMP's listener in production (pre-auth-guard.ts). */
  readonly guard: PreAuthGuard;
  readonly log: LogSink;
  readonly maxSessions?: number;
  readonly mediaTimeoutMs?: number;
  readonly maxBufferBytes?: number;
  readonly ffmpegPath?: string;
}

interface PendingConclusion extends GuardedConnection {
  closed: boolean;
}

function peerKeyOf(rinfo: RemoteInfo, callerSocketId: number): string {
  return `${rinfo.address}|${rinfo.port}|${callerSocketId}`;
}

export class SrtServer<Grant> {
  readonly #options: SrtServerOptions<Grant>;
  readonly #socket: Socket;
  readonly #cookieSecret = randomBytes(16);
  /** The socket id every induction answers with; sessions get their own. */
  readonly #listenerSocketId = randomInt(1, 0x7fff_ffff);
  readonly #sessions = new Map<number, SrtSession<Grant>>();
  /** Accepted sessions by caller (address, port, socket id), with the conclusion response they got. */
  readonly #accepted = new Map<string, { session: SrtSession<Grant>; response: Buffer }>();
  readonly #pending = new Map<string, PendingConclusion>();
  readonly #refusals = new Map<string, { response: Buffer; at: number }>();
  /** Keys with a session or a conclusion in flight: one publisher per key on this node, as RTMP. */
  readonly #claimedKeys = new Set<string>();
  #ignored = 0;
  #closed = false;

  constructor(options: SrtServerOptions<Grant>) {
    this.#options = options;
    this.#socket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
    this.#socket.on('message', (datagram, rinfo) => this.#onDatagram(datagram, rinfo));
    this.#socket.on('error', (error) =>
      options.log({ level: 'warn', event: 'srt.socket_error', error: String(error) }),
    );
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Datagrams dropped after a header read (garbage, unknown sockets, bad cookies). */
  get ignoredDatagrams(): number {
    return this.#ignored;
  }

  get bridgePids(): number[] {
    return [...this.#sessions.values()].flatMap((session) => session.bridgePid ?? []);
  }

  get sessions(): ReadonlyArray<SrtSession<Grant>> {
    return [...this.#sessions.values()];
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(this.#options.port, this.#options.host, () => {
        this.#socket.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Sessions first, while the socket still sends: each tells its caller (SHUTDOWN).
    for (const session of [...this.#sessions.values()]) session.close('server_closed');
    this.#closed = true;
    for (const pending of this.#pending.values()) pending.closed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    const packet = readPacket(datagram);
    if (packet === null) {
      this.#ignored += 1;
      return;
    }
    if (
      packet.kind === 'control' &&
      packet.type === ControlType.HANDSHAKE &&
      !this.#sessions.has(packet.destSocketId)
    ) {
      this.#onHandshake(packet.cif, rinfo);
      return;
    }
    const session = this.#sessions.get(packet.destSocketId);
    // A packet for a session must come from its caller's address: another host cannot inject or
    // shut it down by guessing a socket id.
    if (session === undefined || !this.#fromCaller(session, rinfo)) {
      this.#ignored += 1;
      return;
    }
    if (packet.kind === 'data') session.handleData(packet);
    else if (packet.type === ControlType.HANDSHAKE) this.#onHandshake(packet.cif, rinfo);
    else session.handleControl(packet);
  }

  /** Same address and port as the conclusion that opened the session. */
  #fromCaller(session: SrtSession<Grant>, rinfo: RemoteInfo): boolean {
    const key = this.#callerKeyOfSession.get(session);
    return key?.startsWith(`${rinfo.address}|${rinfo.port}|`) === true;
  }

  readonly #callerKeyOfSession = new WeakMap<SrtSession<Grant>, string>();

  #cookie(rinfo: RemoteInfo, minute: number): number {
    return createHmac('sha256', this.#cookieSecret)
      .update(`${rinfo.address}|${rinfo.port}|${minute}`)
      .digest()
      .readUInt32BE(0);
  }

  #cookieValid(rinfo: RemoteInfo, cookie: number): boolean {
    const minute = Math.floor(Date.now() / 60_000);
    return cookie === this.#cookie(rinfo, minute) || cookie === this.#cookie(rinfo, minute - 1);
  }

  #onHandshake(cif: Buffer, rinfo: RemoteInfo): void {
    const hs = readHandshake(cif);
    if (hs === null) {
      this.#ignored += 1;
      return;
    }
    if (hs.type === HandshakeType.INDUCTION) {
      this.#answerInduction(hs, rinfo);
      return;
    }
    if (hs.type !== HandshakeType.CONCLUSION || !this.#cookieValid(rinfo, hs.cookie)) {
      this.#ignored += 1;
      return;
    }
    const key = peerKeyOf(rinfo, hs.socketId);
    // The caller repeats its conclusion until it hears back (every 250 ms in libsrt): the same
    // answer again, never a second authorization.
    const accepted = this.#accepted.get(key);
    if (accepted !== undefined) {
      this.#socket.send(accepted.response, rinfo.port, rinfo.address);
      return;
    }
    const refused = this.#refusals.get(key);
    if (refused !== undefined && Date.now() - refused.at < REFUSAL_MEMORY_MS) {
      this.#socket.send(refused.response, rinfo.port, rinfo.address);
      return;
    }
    if (this.#pending.has(key)) return;
    void this.#conclude(hs, rinfo, key).catch((error: unknown) => {
      this.#options.log({ level: 'error', event: 'srt.conclusion_failed', error: String(error) });
    });
  }

  /** §4.3.1.1: "Version 5 ... Extension Field: 0x4A17 ... SYN Cookie". The caller sent version 4. */
  #answerInduction(hs: Handshake, rinfo: RemoteInfo): void {
    const response = writeHandshake({
      version: HS_VERSION_5,
      encryptionField: 0,
      extensionField: SRT_MAGIC,
      initialSeq: hs.initialSeq,
      mtu: MTU,
      flowWindow: FLOW_WINDOW_PACKETS,
      type: HandshakeType.INDUCTION,
      socketId: this.#listenerSocketId,
      cookie: this.#cookie(rinfo, Math.floor(Date.now() / 60_000)),
      peerIp: encodePeerIp(rinfo.address),
    });
    this.#socket.send(
      writeControl(ControlType.HANDSHAKE, 0, 0, hs.socketId, response),
      rinfo.port,
      rinfo.address,
    );
  }

  #refuse(
    hs: Handshake,
    rinfo: RemoteInfo,
    key: string,
    code: Rejection,
    why: string,
    traceId?: string,
  ): void {
    const response = writeControl(
      ControlType.HANDSHAKE,
      0,
      0,
      hs.socketId,
      writeHandshake({
        version: HS_VERSION_5,
        encryptionField: 0,
        extensionField: 0,
        initialSeq: hs.initialSeq,
        mtu: MTU,
        flowWindow: FLOW_WINDOW_PACKETS,
        type: code,
        socketId: this.#listenerSocketId,
        cookie: hs.cookie,
        peerIp: encodePeerIp(rinfo.address),
      }),
    );
    this.#refusals.set(key, { response, at: Date.now() });
    if (this.#refusals.size > MAX_REMEMBERED_REFUSALS) {
      const oldest = this.#refusals.keys().next();
      if (!oldest.done) this.#refusals.delete(oldest.value);
    }
    this.#options.log({
      event: 'srt.publish_refused',
      ...(traceId === undefined ? {} : { trace_id: traceId }),
      remote_address: rinfo.address,
      reason: why,
      rejection: code,
    });
    this.#socket.send(response, rinfo.port, rinfo.address);
  }

  async #conclude(hs: Handshake, rinfo: RemoteInfo, key: string): Promise<void> {
    const read = this.#readConclusion(hs);
    if (!read.ok) {
      this.#refuse(hs, rinfo, key, read.code, read.why);
      return;
    }
    const admitted = this.#options.guard.check(rinfo.address);
    if (!admitted.ok) {
      this.#refuse(hs, rinfo, key, Rejection.OVERLOAD, admitted.reason);
      return;
    }
    if (this.#sessions.size + this.#pending.size >= (this.#options.maxSessions ?? DEFAULT_MAX_SESSIONS)) {
      this.#refuse(hs, rinfo, key, Rejection.OVERLOAD, 'node_full');
      return;
    }
    const pending: PendingConclusion = {
      network: toClientNetwork(rinfo.address),
      preAuthStage: 'authorizing' satisfies PreAuthStage,
      closed: false,
      closeByGuard() {
        this.closed = true;
      },
    };
    if (!this.#options.guard.admit(pending)) {
      this.#refuse(hs, rinfo, key, Rejection.OVERLOAD, 'pre_auth_full');
      return;
    }
    this.#options.guard.report(pending, PENDING_HELD_BYTES);
    const { streamKey } = read;
    if (this.#claimedKeys.has(streamKey)) {
      this.#options.guard.leave(pending);
      this.#refuse(hs, rinfo, key, Rejection.CONFLICT, 'already_publishing');
      return;
    }
    this.#pending.set(key, pending);
    this.#claimedKeys.add(streamKey);
    let claimed = true;
    try {
      claimed = !(await this.#authorizeAndAccept(hs, rinfo, key, read, pending));
    } finally {
      this.#pending.delete(key);
      this.#options.guard.leave(pending);
      if (claimed) this.#claimedKeys.delete(streamKey);
    }
  }

  /** Everything a conclusion must carry, checked before anything is spent on it. */
  #readConclusion(
    hs: Handshake,
  ):
    | { ok: true; streamKey: string; backup: boolean; km: KeyMaterial | null; hsReq: HsReq }
    | { ok: false; code: Rejection; why: string } {
    if (hs.version !== HS_VERSION_5) return { ok: false, code: Rejection.VERSION, why: 'hs_version' };
    let hsReq: HsReq | null = null;
    let streamId: string | null = null;
    let kmMessage: Buffer | null = null;
    for (const ext of hs.extensions) {
      switch (ext.type) {
        case ExtensionType.HSREQ:
          hsReq = readHsReq(ext.content);
          break;
        case ExtensionType.SID:
          streamId = readStreamId(ext.content);
          break;
        case ExtensionType.KMREQ:
          kmMessage = ext.content;
          break;
        case ExtensionType.CONGESTION:
          if (readStreamId(ext.content) !== 'live')
            return { ok: false, code: Rejection.CONGESTION, why: 'congestion' };
          break;
        case ExtensionType.FILTER:
          return { ok: false, code: Rejection.FILTER, why: 'packet_filter' };
        case ExtensionType.GROUP:
          return { ok: false, code: Rejection.GROUP, why: 'group' };
        default:
          break;
      }
    }
    if (hsReq === null) return { ok: false, code: Rejection.ROGUE, why: 'no_hsreq' };
    // Live mode only: "SRTO_TRANSTYPE=file" callers set the stream flag.
    if ((hsReq.flags & SrtFlag.STREAM) !== 0)
      return { ok: false, code: Rejection.MESSAGEAPI, why: 'file_mode' };
    if (streamId === null) return { ok: false, code: Rejection.BAD_REQUEST, why: 'no_streamid' };
    const streamKey = readStreamKey(streamId);
    if (!streamKey.ok) {
      return {
        ok: false,
        code: streamKey.reason === 'bad_mode' ? Rejection.BAD_MODE : Rejection.BAD_REQUEST,
        why: `streamid_${streamKey.reason}`,
      };
    }
    // Every channel has a passphrase: a caller without one is "Only one party has set up a
    // connection password" (SRT_REJ_UNSECURE), as a libsrt listener with enforced encryption answers.
    if (kmMessage === null) return { ok: false, code: Rejection.UNSECURE, why: 'no_passphrase' };
    const km = readKeyMaterial(kmMessage);
    if (!km.ok) {
      return {
        ok: false,
        code: km.error === 'unsupported_cipher' ? Rejection.CRYPTO : Rejection.ROGUE,
        why: `km_${km.error}`,
      };
    }
    return { ok: true, streamKey: streamKey.key, backup: streamKey.backup, km: km.km, hsReq };
  }

  /** Passphrase, unwrap, authorize, accept. True when a session now holds the key's claim. */
  async #authorizeAndAccept(
    hs: Handshake,
    rinfo: RemoteInfo,
    key: string,
    conclusion: { streamKey: string; backup: boolean; km: KeyMaterial | null; hsReq: HsReq },
    pending: PendingConclusion,
  ): Promise<boolean> {
    const { streamKey, backup, km, hsReq } = conclusion;
    const traceId = createTraceId();
    this.#options.log({
      event: 'srt.conclusion_received',
      trace_id: traceId,
      remote_address: rinfo.address,
      stream_key_prefix: maskStreamKey(streamKey),
    });
    let secret: Awaited<ReturnType<SrtServerOptions<Grant>['passphrase']>>;
    try {
      secret = await this.#options.passphrase({ streamKey, traceId });
    } catch {
      secret = { ok: false, reason: 'unavailable' };
    }
    if (this.#closed || pending.closed) return false;
    if (!secret.ok) {
      this.#refuse(
        hs,
        rinfo,
        key,
        secret.reason === 'bad_key' ? Rejection.UNAUTHORIZED : Rejection.DOWN,
        secret.reason,
        traceId,
      );
      return false;
    }
    const keys = km === null ? null : unwrapKeys(km, secret.passphrase);
    if (keys === null) {
      this.#refuse(hs, rinfo, key, Rejection.BADSECRET, 'bad_passphrase', traceId);
      return false;
    }
    let result: AuthorizeResult<Grant>;
    try {
      result = await this.#options.authorize({ streamKey, remoteAddress: rinfo.address, traceId, backup });
    } catch {
      result = { ok: false, reason: 'unavailable' };
    }
    if (!result.ok) {
      const code =
        result.reason === 'bad_key'
          ? Rejection.UNAUTHORIZED
          : result.reason === 'already_publishing'
            ? Rejection.CONFLICT
            : Rejection.DOWN;
      this.#refuse(hs, rinfo, key, code, result.reason, traceId);
      return false;
    }
    const grant = result.grant;
    if (this.#closed || pending.closed) {
      // Authorized, but the caller was dropped meanwhile: the origin hears of it as of any publish
      // that never started, so the channel is not left waiting for media.
      this.#options.onUnstarted(grant, 'server_closed', traceId);
      return false;
    }
    // "The value for latency is always agreed to be the greater of those reported by each party."
    const latencyMs = Math.min(
      MAX_LATENCY_MS,
      Math.max(this.#options.latencyMs ?? DEFAULT_LATENCY_MS, hsReq.senderDelayMs),
    );
    let socketId = randomInt(1, 0x7fff_ffff);
    while (this.#sessions.has(socketId) || socketId === this.#listenerSocketId)
      socketId = randomInt(1, 0x7fff_ffff);
    const session = new SrtSession<Grant>({
      socketId,
      peerSocketId: hs.socketId,
      grant,
      traceId,
      streamKey,
      remoteAddress: rinfo.address,
      initialSeq: hs.initialSeq,
      latencyMs,
      keys,
      passphrase: secret.passphrase,
      maxBufferPackets: FLOW_WINDOW_PACKETS,
      maxBufferBytes: this.#options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
      ...(this.#options.mediaTimeoutMs === undefined ? {} : { mediaTimeoutMs: this.#options.mediaTimeoutMs }),
      ...(this.#options.ffmpegPath === undefined ? {} : { ffmpegPath: this.#options.ffmpegPath }),
      send: (datagram) => {
        if (!this.#closed) this.#socket.send(datagram, rinfo.port, rinfo.address);
      },
      logError: (event, error) =>
        this.#options.log({ level: 'warn', event, error, srt_socket: socketId, trace_id: traceId }),
    });
    const response = writeControl(
      ControlType.HANDSHAKE,
      0,
      0,
      hs.socketId,
      writeHandshake(
        {
          version: HS_VERSION_5,
          encryptionField: hs.encryptionField,
          extensionField: HsExtFlag.HSREQ | (km === null ? 0 : HsExtFlag.KMREQ),
          initialSeq: hs.initialSeq,
          mtu: Math.min(MTU, hs.mtu),
          flowWindow: FLOW_WINDOW_PACKETS,
          type: HandshakeType.CONCLUSION,
          socketId,
          cookie: 0,
          peerIp: encodePeerIp(rinfo.address),
        },
        [
          {
            type: ExtensionType.HSRSP,
            content: writeHsRsp({
              srtVersion: SRT_VERSION,
              flags: HSRSP_FLAGS,
              receiverDelayMs: latencyMs,
              senderDelayMs: latencyMs,
            }),
          },
          // The KMRSP echoes the KMREQ: libsrt compares it with the KM it sent.
          ...(km === null
            ? []
            : [
                {
                  type: ExtensionType.KMRSP,
                  content:
                    hs.extensions.find((ext) => ext.type === ExtensionType.KMREQ)?.content ?? Buffer.alloc(0),
                },
              ]),
        ],
      ),
    );
    this.#sessions.set(socketId, session);
    this.#accepted.set(key, { session, response });
    this.#callerKeyOfSession.set(session, key);
    session.onClose((reason) => {
      this.#sessions.delete(socketId);
      this.#accepted.delete(key);
      this.#claimedKeys.delete(streamKey);
      this.#options.log({
        event: 'srt.session_closed',
        srt_socket: socketId,
        trace_id: traceId,
        reason,
        ...session.stats,
      });
      if (!session.ready) this.#options.onUnstarted(grant, reason, traceId);
    });
    session.onReady(() => this.#options.onPublish(session.session));
    this.#options.log({
      event: 'srt.publish_started',
      srt_socket: socketId,
      trace_id: traceId,
      stream_key_prefix: maskStreamKey(streamKey),
      latency_ms: latencyMs,
      encrypted: keys !== null,
    });
    this.#socket.send(response, rinfo.port, rinfo.address);
    return true;
  }
}
