// One RTMP connection on the server: handshake, the publish command flow, then media. Every
// failure ends in `close()`, which runs once; nothing thrown here reaches the socket's emitter.
// Until its publish is authorized a connection is a stranger (issue 10, finding 2): its messages
// are capped small, it reports what it holds to the pre-auth guard after every read, and the setup
// deadline bounds how long it may take to get there (docs/security.md lists the limits).
// About 510 lines in one file: the phases share the socket, the chunk reader, the held commands
// and the close path; split apart, each half would reach into the other's private state. What a
// connection needs from its server is in connection-context.ts, the pre-auth limits in
// pre-auth-guard.ts.
import type { Socket } from 'node:net';
import { toClientNetwork } from '../../../../common/client-network.ts';
import { createTraceId } from '../../../../common/trace.ts';
import type { LogEvent } from '../log.ts';
import { Amf0DecodeError } from './amf0.ts';
import {
  ChunkReader,
  ChunkStreamError,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_MESSAGE_LENGTH,
} from './chunk-reader.ts';
import { ChunkWriter } from './chunk-writer.ts';
import {
  CommandParseError,
  createConnectRejected,
  createConnectResult,
  createOnStatus,
  createStreamResult,
  parseCommand,
  type RtmpCommand,
} from './commands.ts';
import { type AuthorizeResult, type ConnectionContext, maskStreamKey } from './connection-context.ts';
import { FlvMuxer } from './flv.ts';
import { HandshakeError, ServerHandshake } from './handshake.ts';
import {
  createAcknowledgement,
  createSetChunkSize,
  createSetPeerBandwidth,
  createUserControl,
  createWindowAckSize,
  MessageType,
  type RtmpMessage,
  UserControlEvent,
} from './messages.ts';
import {
  type GuardedConnection,
  PRE_AUTH_MAX_BUFFERED_BYTES,
  PRE_AUTH_MAX_BYTES_IN,
  PRE_AUTH_MAX_BYTES_OUT,
  PRE_AUTH_MAX_MESSAGE_LENGTH,
  PRE_AUTH_MIN_CHUNK_SIZE,
  type PreAuthStage,
} from './pre-auth-guard.ts';
import {
  createPublishSession,
  type PublishCloseReason,
  type PublishSessionHandle,
} from './publish-session.ts';

export type { AuthorizeRequest, AuthorizeResult, ConnectionContext, RtmpLog } from './connection-context.ts';
export { maskStreamKey } from './connection-context.ts';

/** Commands held while authorize runs (reading is paused, so only what one read carried). */
const MAX_HELD_BYTES = 64 * 1024;

/** The window the publisher acknowledges our bytes in (we send few), and its peer bandwidth: 2.5 MB, as FMS and nginx-rtmp use. */
const WINDOW_ACK_SIZE = 2_500_000;
/** OBS and ffmpeg raise their own chunk size to 4096; larger chunks mean fewer headers. */
const OUTGOING_CHUNK_SIZE = 4096;
/** createStream always yields stream 1: a publisher needs exactly one stream. */
const PUBLISH_STREAM_ID = 1;
/** Commands that may arrive while authorize runs are held, up to this many. */
const MAX_HELD_MESSAGES = 32;
/**
 * We send a publisher little; one that leaves this much unread is not reading at all (a stranger
 * is bounded tighter, by everything written to it: PRE_AUTH_MAX_BYTES_OUT).
 */
const MAX_UNSENT_BYTES = 1024 * 1024;
/** A refused publisher gets this long to read its error before the socket is destroyed. */
const REFUSAL_LINGER_MS = 1000;

type Phase = 'handshake' | 'setup' | 'authorizing' | 'publishing' | 'closed';

export class RtmpConnection<Grant> implements GuardedConnection {
  readonly #socket: Socket;
  readonly #context: ConnectionContext<Grant, RtmpConnection<Grant>>;
  readonly #remoteAddress: string;
  readonly #network: string;
  /**
   * Minted as the connection is accepted: every line this connection logs carries it, and an
   * accepted publish keeps it (PublishSession.traceId) for the pipeline and the origin calls.
   */
  readonly #traceId = createTraceId();
  readonly #handshake = new ServerHandshake();
  readonly #reader = new ChunkReader({
    maxMessageLength: PRE_AUTH_MAX_MESSAGE_LENGTH,
    maxBufferedBytes: PRE_AUTH_MAX_BUFFERED_BYTES,
    minChunkSize: PRE_AUTH_MIN_CHUNK_SIZE,
  });
  readonly #writer = new ChunkWriter();
  readonly #muxer = new FlvMuxer();
  readonly #heldMessages: RtmpMessage[] = [];
  #heldMessageBytes = 0;
  #phase: Phase = 'handshake';
  #connected = false;
  #app = '';
  /** The app named the dual publish's backup (`live?backup=1`). */
  #appBackup = false;
  /** The app named a fleet node's relay (`live?relay=1`). */
  #appRelay = false;
  #streamKey: string | null = null;
  /** This publish is the backup of a dual publish (the app's or the stream name's `?backup=1`). */
  #backup = false;
  /** This publish is a fleet node's relay of a source (the app's or the stream name's `?relay=1`). */
  #relay = false;
  #publishStreamId = PUBLISH_STREAM_ID;
  #session: PublishSessionHandle<Grant> | null = null;
  #setupTimer: NodeJS.Timeout | null;
  #bytesIn = 0;
  /** Written after the handshake while a stranger. */
  #preAuthBytesOut = 0;
  #droppedMediaMessages = 0;

  constructor(socket: Socket, context: ConnectionContext<Grant, RtmpConnection<Grant>>) {
    this.#socket = socket;
    this.#context = context;
    this.#remoteAddress = socket.remoteAddress ?? 'unknown';
    this.#network = toClientNetwork(this.#remoteAddress);
    // A full table evicts a stranger for us; only when every other one is being authorized is
    // there no room, and then this one never starts (the server sees `closed` and refuses it).
    if (!context.guard.admit(this)) {
      this.#phase = 'closed';
      this.#setupTimer = null;
      return;
    }
    // Until `publish` arrives a connection has no business staying open: this bounds the
    // handshake, connect and createStream together.
    this.#setupTimer = setTimeout(
      () => this.close('protocol_error', 'setup_timeout'),
      context.setupTimeoutMs,
    );
    socket.setNoDelay(true);
    socket.setTimeout(context.idleTimeoutMs);
    socket.on('data', (bytes: Buffer) => this.#receive(bytes));
    // A publisher that stops says so (FCUnpublish, deleteStream: OBS and ffmpeg both do); a bare
    // FIN is a connection that went away (a balancer, a crash), as a dual publish's standby must tell.
    socket.on('end', () => this.close('publisher_lost', 'socket_end'));
    socket.on('timeout', () => this.close('publisher_lost', 'idle_timeout'));
    socket.on('error', (error) => this.close('publisher_lost', error.message));
    socket.on('close', () => this.close('publisher_lost', 'socket_closed'));
  }

  get remoteAddress(): string {
    return this.#remoteAddress;
  }

  get traceId(): string {
    return this.#traceId;
  }

  #log(fields: LogEvent): void {
    this.#context.log({ trace_id: this.#traceId, ...fields });
  }

  get network(): string {
    return this.#network;
  }

  get preAuthStage(): PreAuthStage {
    if (this.#phase === 'handshake') return 'handshake';
    return this.#phase === 'authorizing' ? 'authorizing' : 'setup';
  }

  /** True once closed, or when the guard had no room for it at all. */
  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** The pre-auth guard's close: strangers together hold more than their budget, or it was evicted. */
  closeByGuard(reason: 'pre_auth_budget' | 'pre_auth_evicted'): void {
    this.close('protocol_error', reason);
  }

  /** Ends the connection once; a publish session, if any, learns the reason. */
  close(reason: PublishCloseReason, detail?: string): void {
    if (this.#phase === 'closed') return;
    const previousPhase = this.#phase;
    this.#phase = 'closed';
    if (this.#setupTimer !== null) clearTimeout(this.#setupTimer);
    this.#setupTimer = null;
    this.#heldMessages.length = 0;
    this.#context.guard.leave(this);
    if (this.#streamKey !== null) this.#context.releaseStreamKey(this.#streamKey);
    const graceful = reason === 'publisher_closed';
    if (graceful) this.#endSocket();
    else this.#socket.destroy();
    this.#log({
      level: reason === 'protocol_error' ? 'warn' : 'info',
      event: 'rtmp.connection_closed',
      reason,
      detail,
      phase: previousPhase,
      remote_address: this.#remoteAddress,
      stream_key_prefix: this.#streamKey === null ? undefined : maskStreamKey(this.#streamKey),
      bytes_in: this.#bytesIn,
      dropped_media_messages: this.#droppedMediaMessages || undefined,
    });
    this.#session?.finish(reason);
    this.#context.onConnectionClosed(this);
  }

  #endSocket(): void {
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  #receive(bytes: Buffer): void {
    if (this.#phase === 'closed') return;
    this.#bytesIn += bytes.length;
    if (this.#phase !== 'publishing' && this.#bytesIn > PRE_AUTH_MAX_BYTES_IN) {
      this.close('protocol_error', 'pre_auth_bytes');
      return;
    }
    try {
      let chunkBytes = bytes;
      if (this.#phase === 'handshake') {
        const progress = this.#handshake.push(bytes);
        if (progress.reply !== null) this.#write(progress.reply);
        if (!progress.done) return;
        this.#phase = 'setup';
        chunkBytes = progress.rest;
        if (chunkBytes.length === 0) return;
      }
      const messages = this.#reader.push(chunkBytes);
      const acknowledgement = this.#reader.takeAcknowledgement();
      if (acknowledgement !== null) this.#send(createAcknowledgement(acknowledgement));
      for (const message of messages) {
        if (this.#isClosed()) return;
        if (this.#phase === 'authorizing') this.#hold(message);
        else this.#handleMessage(message);
      }
    } catch (error) {
      this.#closeOnError(error);
    }
    this.#reportHeld();
  }

  /** While a stranger, tells the guard what this connection holds; the guard may close it. */
  #reportHeld(): void {
    if (this.#phase === 'publishing' || this.#phase === 'closed') return;
    // Replies the peer has not read are ours to hold too (a peer that asks for acknowledgements
    // and pings but never reads would otherwise park them outside the budget).
    this.#context.guard.report(
      this,
      this.#handshake.heldBytes +
        this.#reader.bufferedBytes +
        this.#heldMessageBytes +
        this.#socket.writableLength,
    );
  }

  /** A method, not a field read: the phase changes under handlers that TypeScript cannot see into. */
  #isClosed(): boolean {
    return this.#phase === 'closed';
  }

  #closeOnError(error: unknown): void {
    const known =
      error instanceof ChunkStreamError ||
      error instanceof HandshakeError ||
      error instanceof Amf0DecodeError ||
      error instanceof CommandParseError;
    if (!known)
      this.#log({
        level: 'error',
        event: 'rtmp.bug',
        error: String(error),
        remote_address: this.#remoteAddress,
      });
    this.close('protocol_error', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }

  /**
   * While authorize runs, reading is paused; what was already parsed waits here. Media sent
   * before Publish.Start is dropped: "media only after that".
   */
  #hold(message: RtmpMessage): void {
    if (isMediaMessage(message)) {
      this.#droppedMediaMessages += 1;
      return;
    }
    if (
      this.#heldMessages.length >= MAX_HELD_MESSAGES ||
      this.#heldMessageBytes + message.payload.length > MAX_HELD_BYTES
    ) {
      this.close('protocol_error', 'too_many_messages_during_authorize');
      return;
    }
    this.#heldMessages.push(message);
    this.#heldMessageBytes += message.payload.length;
  }

  #handleMessage(message: RtmpMessage): void {
    switch (message.type) {
      case MessageType.COMMAND_AMF0:
      case MessageType.COMMAND_AMF3:
        this.#handleCommand(parseCommand(message), message.streamId);
        return;
      case MessageType.AUDIO:
      case MessageType.VIDEO:
      case MessageType.DATA_AMF0:
      case MessageType.DATA_AMF3:
        this.#handleMedia(message);
        return;
      case MessageType.USER_CONTROL:
        this.#handleUserControl(message);
        return;
      default:
        // Set Chunk Size, Abort and Window Acknowledgement Size were applied by the reader;
        // Acknowledgement and Set Peer Bandwidth need nothing from a server that sends little.
        return;
    }
  }

  #handleMedia(message: RtmpMessage): void {
    if (
      this.#phase !== 'publishing' ||
      message.streamId !== this.#publishStreamId ||
      this.#session === null
    ) {
      this.#droppedMediaMessages += 1;
      return;
    }
    const tag = this.#muxer.push(message);
    if (tag !== null) this.#session.deliverMedia(tag);
  }

  #handleUserControl(message: RtmpMessage): void {
    if (message.payload.length < 6) return;
    // "Ping Response (=7) [...] The event data is a 4-byte timestamp, which was received with the
    // PingRequest." Publishers ping too (librtmp does), and expect the same answer.
    if (message.payload.readUInt16BE(0) === UserControlEvent.PING_REQUEST) {
      this.#send(createUserControl(UserControlEvent.PING_RESPONSE, message.payload.readUInt32BE(2)));
    }
  }

  #handleCommand(command: RtmpCommand, streamId: number): void {
    switch (command.name) {
      case 'connect':
        this.#handleConnect(command.transactionId, command.app, command.backup, command.relay);
        return;
      case 'createStream':
        if (!this.#connected) throw new CommandParseError('createStream before connect');
        this.#send(createStreamResult(command.transactionId, PUBLISH_STREAM_ID));
        return;
      case 'publish':
        this.#startPublish(command.streamName, command.backup, command.relay, streamId);
        return;
      case 'releaseStream':
      case 'FCPublish':
        // They "expect no reply": ffmpeg and OBS go on to createStream regardless.
        return;
      case 'FCUnpublish':
      case 'deleteStream':
      case 'closeStream':
        if (this.#phase === 'publishing' || this.#phase === 'authorizing')
          this.close('publisher_closed', command.name);
        return;
      case 'unknown':
        this.#log({
          event: 'rtmp.command_ignored',
          command: command.commandName.slice(0, 64),
          remote_address: this.#remoteAddress,
        });
        return;
    }
  }

  #handleConnect(transactionId: number, app: string, backup: boolean, relay: boolean): void {
    if (this.#connected) throw new CommandParseError('connect sent twice');
    if (!this.#context.allowedApps.includes(app)) {
      this.#send(createConnectRejected(transactionId, 'Unknown application'));
      this.#log({
        event: 'rtmp.connect_rejected',
        app: app.slice(0, 64),
        remote_address: this.#remoteAddress,
      });
      this.close('publisher_closed', 'app_not_allowed');
      return;
    }
    this.#connected = true;
    this.#app = app;
    this.#appBackup = backup;
    this.#appRelay = relay;
    this.#send(createWindowAckSize(WINDOW_ACK_SIZE));
    this.#send(createSetPeerBandwidth(WINDOW_ACK_SIZE));
    this.#send(createSetChunkSize(OUTGOING_CHUNK_SIZE));
    this.#writer.setChunkSize(OUTGOING_CHUNK_SIZE);
    this.#send(createConnectResult(transactionId));
    this.#log({ event: 'rtmp.connected', app, remote_address: this.#remoteAddress });
  }

  #startPublish(streamKey: string, backup: boolean, relay: boolean, streamId: number): void {
    if (!this.#connected || this.#phase !== 'setup')
      throw new CommandParseError(`publish in phase ${this.#phase}`);
    if (this.#setupTimer !== null) clearTimeout(this.#setupTimer);
    this.#setupTimer = null;
    this.#publishStreamId = streamId;
    this.#backup = this.#appBackup || backup;
    this.#relay = this.#appRelay || relay;
    if (streamKey === '') {
      this.#refusePublish('bad_key', streamKey);
      return;
    }
    // One publisher per key here, checked before authorize is even asked.
    if (!this.#context.claimStreamKey(streamKey)) {
      this.#refusePublish('already_publishing', streamKey);
      return;
    }
    this.#streamKey = streamKey;
    this.#phase = 'authorizing';
    this.#socket.pause();
    this.#authorize(streamKey).catch((error: unknown) => this.#closeOnError(error));
  }

  async #authorize(streamKey: string): Promise<void> {
    let result: AuthorizeResult<Grant>;
    try {
      result = await this.#context.authorize({
        app: this.#app,
        streamKey,
        remoteAddress: this.#remoteAddress,
        traceId: this.#traceId,
        backup: this.#backup,
        relay: this.#relay,
      });
    } catch (error) {
      this.#log({
        level: 'warn',
        event: 'rtmp.authorize_failed',
        error: String(error),
        stream_key_prefix: maskStreamKey(streamKey),
      });
      result = { ok: false, reason: 'unavailable' };
    }
    // The publisher may have gone while we waited.
    if (this.#phase !== 'authorizing') return;
    if (!result.ok) {
      this.#refusePublish(result.reason, streamKey, result.message);
      return;
    }
    this.#acceptPublish(result.grant, streamKey);
  }

  #acceptPublish(grant: Grant, streamKey: string): void {
    this.#phase = 'publishing';
    // No longer a stranger: media messages may be large now, and nothing here counts against the
    // strangers' budget any more.
    this.#context.guard.leave(this);
    this.#reader.setLimits({
      maxMessageLength: DEFAULT_MAX_MESSAGE_LENGTH,
      maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
      minChunkSize: 1,
    });
    // A half-open publisher (encoder host gone, NAT dropped) must end soon: until it does, the
    // stream stays live on a frozen picture and the streamer's reconnect with the same key is
    // refused as already publishing. The long idle timeout only suits the setup phases.
    this.#socket.setTimeout(this.#context.publishIdleTimeoutMs);
    this.#send(createUserControl(UserControlEvent.STREAM_BEGIN, this.#publishStreamId));
    this.#send(
      createOnStatus(this.#publishStreamId, {
        level: 'status',
        code: 'NetStream.Publish.Start',
        description: 'Publishing started.',
      }),
    );
    const handle = createPublishSession({
      grant,
      traceId: this.#traceId,
      streamKey,
      app: this.#app,
      remoteAddress: this.#remoteAddress,
      relay: this.#relay,
      muxer: this.#muxer,
      readBytesIn: () => this.#bytesIn,
      closeConnection: (reason) => this.close(reason, 'closed_by_server'),
      logListenerError: (error) =>
        this.#log({ level: 'error', event: 'rtmp.listener_failed', error: String(error) }),
    });
    this.#session = handle;
    this.#log({
      level: 'info',
      event: 'rtmp.publish_started',
      stream_key_prefix: maskStreamKey(streamKey),
      remote_address: this.#remoteAddress,
    });
    try {
      this.#context.onPublish(handle.session);
    } catch (error) {
      this.#log({ level: 'error', event: 'rtmp.listener_failed', error: String(error) });
    }
    if (this.#phase !== 'publishing') return;
    this.#socket.resume();
    const held = this.#heldMessages.splice(0);
    this.#heldMessageBytes = 0;
    try {
      for (const message of held) if (this.#phase === 'publishing') this.#handleMessage(message);
    } catch (error) {
      this.#closeOnError(error);
    }
  }

  #refusePublish(
    reason: 'bad_key' | 'already_publishing' | 'unavailable',
    streamKey: string,
    message?: string,
  ): void {
    // BadName is the status OBS and ffmpeg treat as a refused stream name (key); an origin outage
    // or a full fleet is reported as a failure instead, so the streamer is not told their key is
    // wrong, with the origin's reason as the description OBS shows (docs/deploy.md).
    const code = reason === 'unavailable' ? 'NetStream.Publish.Failed' : 'NetStream.Publish.BadName';
    const description = message ?? reason;
    this.#send(createOnStatus(this.#publishStreamId, { level: 'error', code, description }));
    this.#log({
      level: 'info',
      event: 'rtmp.publish_refused',
      reason,
      stream_key_prefix: maskStreamKey(streamKey),
      remote_address: this.#remoteAddress,
    });
    this.close('publisher_closed', `refused_${reason}`);
  }

  #send(message: RtmpMessage): void {
    this.#write(this.#writer.write(message));
  }

  #write(bytes: Buffer): void {
    if (this.#socket.destroyed) return;
    this.#socket.write(bytes);
    if (this.#phase !== 'publishing') {
      this.#preAuthBytesOut += bytes.length;
      if (this.#preAuthBytesOut > PRE_AUTH_MAX_BYTES_OUT) this.close('protocol_error', 'too_many_replies');
    } else if (this.#socket.writableLength > MAX_UNSENT_BYTES) {
      this.close('protocol_error', 'peer_not_reading');
    }
  }
}

function isMediaMessage(message: RtmpMessage): boolean {
  return (
    message.type === MessageType.AUDIO ||
    message.type === MessageType.VIDEO ||
    message.type === MessageType.DATA_AMF0 ||
    message.type === MessageType.DATA_AMF3
  );
}
