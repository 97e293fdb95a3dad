// The RTMP ingest server: accepts publishers (OBS, ffmpeg), asks `authorize` before answering
// NetStream.Publish.Start, and hands each accepted publish to `onPublish` as an FLV stream.
// A hostile or broken connection is closed on its own; the server and other publishes go on.
import { createServer, type Server, type Socket } from 'node:net';
import {
  type AuthorizeRequest,
  type AuthorizeResult,
  type ConnectionContext,
  RtmpConnection,
  type RtmpLog,
} from './connection.ts';
import type { PublishSession } from './publish-session.ts';

export type { AuthorizeRequest, AuthorizeResult, RtmpLog } from './connection.ts';
export { maskStreamKey } from './connection.ts';
export type { PublishCloseReason, PublishSession, PublishStats } from './publish-session.ts';

export interface RtmpServerOptions<Grant> {
  host?: string;
  /** 0 = an ephemeral port (tests). */
  port: number;
  /** Called on `publish`, BEFORE NetStream.Publish.Start is sent. */
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult<Grant>>;
  /** Called after Publish.Start was sent; the session then emits media. */
  onPublish(session: PublishSession<Grant>): void;
  /** Until `publish` is received (handshake, connect, createStream); default 10_000. */
  handshakeTimeoutMs?: number;
  /** With no bytes from the peer before publishing; default 30_000. */
  idleTimeoutMs?: number;
  /** With no bytes from a publishing peer; default 10_000 (the origin's publisher timeout). */
  publishIdleTimeoutMs?: number;
  /** Default 256. */
  maxConnections?: number;
  /** Default ['live']. */
  allowedApps?: string[];
  log?: RtmpLog;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_PUBLISH_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CONNECTIONS = 256;

function logToStdout(event: Record<string, unknown>): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...event }));
}

export class RtmpServer<Grant> {
  readonly #options: RtmpServerOptions<Grant>;
  readonly #log: RtmpLog;
  readonly #server: Server;
  readonly #connections = new Set<RtmpConnection<Grant>>();
  readonly #activeStreamKeys = new Set<string>();
  readonly #context: ConnectionContext<Grant>;
  #listening = false;

  constructor(options: RtmpServerOptions<Grant>) {
    this.#options = options;
    this.#log = options.log ?? logToStdout;
    const log = this.#log;
    this.#context = {
      allowedApps: options.allowedApps ?? ['live'],
      setupTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      publishIdleTimeoutMs: options.publishIdleTimeoutMs ?? DEFAULT_PUBLISH_IDLE_TIMEOUT_MS,
      authorize: (request) => options.authorize(request),
      onPublish: (session) => options.onPublish(session),
      claimStreamKey: (streamKey) => {
        if (this.#activeStreamKeys.has(streamKey)) return false;
        this.#activeStreamKeys.add(streamKey);
        return true;
      },
      releaseStreamKey: (streamKey) => {
        this.#activeStreamKeys.delete(streamKey);
      },
      onConnectionClosed: (connection) => {
        this.#connections.delete(connection);
      },
      log,
    };
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (error) => log({ event: 'rtmp.server_error', error: error.message }));
  }

  get port(): number {
    const address = this.#server.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', onError);
        this.#listening = true;
        this.#log({ event: 'rtmp.listening', host: this.#options.host, port: this.port });
        resolve();
      });
    });
  }

  /** Stops listening and closes every connection; publish sessions end with 'server_closed'. */
  close(): Promise<void> {
    for (const connection of [...this.#connections]) connection.close('server_closed');
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!this.#listening || this.#connections.size >= maxConnections) {
      this.#log({
        event: 'rtmp.connection_refused',
        remoteAddress: socket.remoteAddress,
        connections: this.#connections.size,
      });
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.#connections.add(new RtmpConnection(socket, this.#context));
  }
}
