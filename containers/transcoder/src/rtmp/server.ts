// The RTMP ingest server: accepts publishers (OBS, ffmpeg), asks `authorize` before answering
// NetStream.Publish.Start, and hands each accepted publish to `onPublish` as an FLV stream.
// A hostile or broken connection is closed on its own; the server and other publishes go on.
// RTMPS (the same protocol inside TLS, what OBS and ffmpeg call rtmps://) listens on a port of its
// own when a certificate is configured, so stream keys need not cross networks in clear text; both
// listeners share one set of connections, stream keys and pre-auth limits (docs/security.md).
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { createLogSink } from '../log.ts';
import {
  type AuthorizeRequest,
  type AuthorizeResult,
  type ConnectionContext,
  RtmpConnection,
  type RtmpLog,
} from './connection.ts';
import {
  DEFAULT_CONNECTS_PER_ADDRESS_PER_MINUTE,
  DEFAULT_PRE_AUTH_BUDGET_BYTES,
  DEFAULT_PRE_AUTH_PER_ADDRESS,
  DEFAULT_PRE_AUTH_TOTAL,
  PreAuthGuard,
} from './pre-auth-guard.ts';
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
  /**
   * Until `publish` is received (TLS, handshake, connect, createStream); default 5_000. OBS and
   * ffmpeg get there in one or two round trips; a stranger gets no longer to hold a slot.
   */
  handshakeTimeoutMs?: number;
  /** With no bytes from the peer before publishing; default 30_000. */
  idleTimeoutMs?: number;
  /** With no bytes from a publishing peer; default 10_000 (the origin's publisher timeout). */
  publishIdleTimeoutMs?: number;
  /** All connections, authorized or not; default 256. */
  maxConnections?: number;
  /** Not yet authorized connections from one address; default 8. */
  maxPreAuthPerAddress?: number;
  /** Not yet authorized connections in total; default 64. */
  maxPreAuthConnections?: number;
  /** Bytes all not yet authorized connections may hold together; default 4 MiB. */
  preAuthBudgetBytes?: number;
  /** New connections one address may open per minute; default 30. */
  connectsPerAddressPerMinute?: number;
  /** Default ['live']. */
  allowedApps?: string[];
  /** RTMPS: a second listener speaking RTMP inside TLS with this certificate (PEM). */
  tls?: { port: number; key: string | Buffer; cert: string | Buffer };
  log?: RtmpLog;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_PUBLISH_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_CONNECTIONS = 256;
const REFUSAL_LOG_INTERVAL_MS = 1000;

export class RtmpServer<Grant> {
  readonly #options: RtmpServerOptions<Grant>;
  readonly #log: RtmpLog;
  readonly #server: Server;
  readonly #tlsServer: TlsServer | null;
  readonly #guard: PreAuthGuard;
  readonly #connections = new Set<RtmpConnection<Grant>>();
  readonly #activeStreamKeys = new Set<string>();
  readonly #context: ConnectionContext<Grant, RtmpConnection<Grant>>;
  #listening = false;
  #lastRefusalLoggedAt = 0;
  #refusalsNotLogged = 0;

  constructor(options: RtmpServerOptions<Grant>) {
    this.#options = options;
    this.#log = options.log ?? createLogSink({ service: 'transcoder' });
    const log = this.#log;
    this.#guard = new PreAuthGuard({
      maxPerAddress: options.maxPreAuthPerAddress ?? DEFAULT_PRE_AUTH_PER_ADDRESS,
      maxTotal: options.maxPreAuthConnections ?? DEFAULT_PRE_AUTH_TOTAL,
      budgetBytes: options.preAuthBudgetBytes ?? DEFAULT_PRE_AUTH_BUDGET_BYTES,
      connectsPerAddressPerMinute:
        options.connectsPerAddressPerMinute ?? DEFAULT_CONNECTS_PER_ADDRESS_PER_MINUTE,
    });
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
      guard: this.#guard,
      log,
    };
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (error) =>
      log({ level: 'error', event: 'rtmp.server_error', error: error.message }),
    );
    this.#tlsServer = options.tls === undefined ? null : this.#createTlsServer(options.tls);
  }

  get port(): number {
    return portOf(this.#server);
  }

  /** The RTMPS port, or null without a certificate. */
  get tlsPort(): number | null {
    return this.#tlsServer === null ? null : portOf(this.#tlsServer);
  }

  /** Not yet authorized connections and the bytes they hold: the pre-auth guard's figures. */
  get preAuth(): { connections: number; heldBytes: number } {
    return { connections: this.#guard.connections, heldBytes: this.#guard.heldBytes };
  }

  async start(): Promise<void> {
    await listen(this.#server, this.#options.port, this.#options.host);
    this.#listening = true;
    this.#log({ event: 'rtmp.listening', host: this.#options.host, port: this.port });
    if (this.#tlsServer !== null && this.#options.tls !== undefined) {
      await listen(this.#tlsServer, this.#options.tls.port, this.#options.host);
      this.#log({ event: 'rtmp.listening', host: this.#options.host, port: this.tlsPort, tls: true });
    }
  }

  /** Stops listening and closes every connection; publish sessions end with 'server_closed'. */
  close(): Promise<void> {
    for (const connection of [...this.#connections]) connection.close('server_closed');
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    const servers: Array<Server | TlsServer> = [this.#server];
    if (this.#tlsServer?.listening === true) servers.push(this.#tlsServer);
    return Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => undefined);
  }

  #createTlsServer(tls: NonNullable<RtmpServerOptions<Grant>['tls']>): TlsServer {
    const server = createTlsServer({
      key: tls.key,
      cert: tls.cert,
      // A TLS handshake is pre-auth work too: it gets the same deadline as the RTMP setup.
      handshakeTimeout: this.#context.setupTimeoutMs,
    });
    // Sockets still in their TLS handshake are not connections yet: Node's own cap bounds them
    // (with the handshake deadline above), so a flood of half-done handshakes cannot grow unbounded.
    server.maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    // The pre-auth limits apply from the TCP connect on, before any TLS work is done for a stranger.
    server.on('connection', (socket: Socket) => {
      const refusal = this.#refusal(socket, true);
      if (refusal !== null) this.#refuse(socket, refusal);
    });
    // Counted at the TCP connect above; here only whether there is still room.
    server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket, false));
    // A client that does not speak TLS (a plain RTMP C0 on this port) or fails the handshake: its
    // socket is destroyed by Node; say so once, without the noise of a stack.
    server.on('tlsClientError', (error, socket) => {
      this.#log({
        level: 'info',
        event: 'rtmp.tls_refused',
        remote_address: socket.remoteAddress,
        error: error.message.slice(0, 200),
      });
    });
    server.on('error', (error) =>
      this.#log({ level: 'error', event: 'rtmp.server_error', error: error.message }),
    );
    return server;
  }

  /** Why this socket may not become a connection now, or null; `countConnect` once per socket. */
  #refusal(socket: Socket, countConnect: boolean): string | null {
    const maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!this.#listening) return 'closing';
    if (this.#connections.size >= maxConnections) return 'max_connections';
    const admit = this.#guard.check(socket.remoteAddress ?? 'unknown', countConnect);
    return admit.ok ? null : admit.reason;
  }

  #accept(socket: Socket, countConnect = true): void {
    const refusal = this.#refusal(socket, countConnect);
    if (refusal !== null) {
      this.#refuse(socket, refusal);
      return;
    }
    this.#connections.add(new RtmpConnection(socket, this.#context));
  }

  /**
   * The peer sees its TCP connection closed before any handshake byte: nothing parsed, nothing
   * held. A flood of refusals is logged once a second, with the count of those not logged.
   */
  #refuse(socket: Socket, reason: string): void {
    socket.on('error', () => {});
    socket.destroy();
    const now = Date.now();
    if (now - this.#lastRefusalLoggedAt < REFUSAL_LOG_INTERVAL_MS) {
      this.#refusalsNotLogged += 1;
      return;
    }
    this.#log({
      level: 'warn',
      event: 'rtmp.connection_refused',
      reason,
      remote_address: socket.remoteAddress,
      connections: this.#connections.size,
      pre_auth_connections: this.#guard.connections,
      refusals_not_logged: this.#refusalsNotLogged,
    });
    this.#lastRefusalLoggedAt = now;
    this.#refusalsNotLogged = 0;
  }
}

function portOf(server: Server | TlsServer): number {
  const address = server.address();
  return address !== null && typeof address === 'object' ? address.port : 0;
}

function listen(server: Server | TlsServer, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
