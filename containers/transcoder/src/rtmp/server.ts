// The RTMP ingest server: accepts publishers (OBS, ffmpeg), asks `authorize` before answering
// NetStream.Publish.Start, and hands each accepted publish to `onPublish` as an FLV stream.
// A hostile or broken connection is closed on its own; the server and other publishes go on.
// RTMPS (the same protocol inside TLS, what OBS and ffmpeg call rtmps://) listens on a port of its
// own when a certificate is configured, so stream keys need not cross networks in clear text; both
// listeners share one set of connections, stream keys and pre-auth limits (docs/security.md).
// A socket still in its TLS handshake is a stranger too: a placeholder counts it in the pre-auth
// guard (per network, in total, and against the smaller handshake cap) until it is secure or gone.
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { toClientNetwork } from '../../../../common/client-network.ts';
import { createLogSink } from '../log.ts';
import {
  type AuthorizeRequest,
  type AuthorizeResult,
  type ConnectionContext,
  RtmpConnection,
  type RtmpLog,
} from './connection.ts';
import {
  DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE,
  DEFAULT_PRE_AUTH_BUDGET_BYTES,
  DEFAULT_PRE_AUTH_PER_NETWORK,
  DEFAULT_PRE_AUTH_TLS_HANDSHAKES,
  DEFAULT_PRE_AUTH_TOTAL,
  type GuardedConnection,
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
  /** RTMP connections (past any TLS handshake), authorized or not; default 256. */
  maxConnections?: number;
  /** Not yet authorized connections from one client network (IPv4 address, IPv6 /64); default 8. */
  maxPreAuthPerNetwork?: number;
  /** Not yet authorized connections in total, TLS handshakes included; default 64 (then evictions). */
  maxPreAuthConnections?: number;
  /** Sockets in their TLS handshake at a time; default 32 (then evictions). */
  maxTlsHandshakes?: number;
  /** Bytes all not yet authorized connections may hold together; default 4 MiB. */
  preAuthBudgetBytes?: number;
  /** New connections one client network may open per minute; default 30. */
  connectsPerNetworkPerMinute?: number;
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
  readonly #tlsServer: Server | null;
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
      maxPerNetwork: options.maxPreAuthPerNetwork ?? DEFAULT_PRE_AUTH_PER_NETWORK,
      maxTotal: options.maxPreAuthConnections ?? DEFAULT_PRE_AUTH_TOTAL,
      maxTlsHandshakes: options.maxTlsHandshakes ?? DEFAULT_PRE_AUTH_TLS_HANDSHAKES,
      budgetBytes: options.preAuthBudgetBytes ?? DEFAULT_PRE_AUTH_BUDGET_BYTES,
      connectsPerNetworkPerMinute:
        options.connectsPerNetworkPerMinute ?? DEFAULT_CONNECTS_PER_NETWORK_PER_MINUTE,
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
  /** The strangers' allowance itself, for another listener to share (SRT, docs/srt.md). */
  get preAuthGuard(): PreAuthGuard {
    return this.#guard;
  }

  get preAuth(): { connections: number; heldBytes: number; evictions: number } {
    return {
      connections: this.#guard.connections,
      heldBytes: this.#guard.heldBytes,
      evictions: this.#guard.evictions,
    };
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
    const servers: Server[] = [this.#server];
    if (this.#tlsServer?.listening === true) servers.push(this.#tlsServer);
    return Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    ).then(() => undefined);
  }

  /**
   * A plain TCP listener that wraps each admitted socket in TLS itself, so the handshake is pre-auth
   * work the guard sees: a placeholder counts the socket (per network, in total, and against the
   * smaller handshake cap) until it is secure (the RTMP connection then takes its slot) or closed.
   * No Node maxConnections: it would count established publishers too, so a flood of silent
   * handshakes could keep the streamers out.
   */
  #createTlsServer(tls: NonNullable<RtmpServerOptions<Grant>['tls']>): Server {
    const secureContext = createSecureContext({ key: tls.key, cert: tls.cert });
    const server = createServer((socket) => this.#acceptTls(socket, secureContext));
    server.on('error', (error) =>
      this.#log({ level: 'error', event: 'rtmp.server_error', error: error.message }),
    );
    return server;
  }

  #acceptTls(socket: Socket, secureContext: SecureContext): void {
    // The pre-auth limits apply from the TCP connect on, before any TLS work is done for a stranger.
    const refusal = this.#refusal(socket, true);
    if (refusal !== null) {
      this.#refuse(socket, refusal);
      return;
    }
    const remoteAddress = socket.remoteAddress;
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext });
    const placeholder = new TlsHandshakePlaceholder(tlsSocket, remoteAddress ?? 'unknown');
    if (!this.#guard.admit(placeholder)) {
      this.#refuse(tlsSocket, 'total_limit');
      return;
    }
    // A TLS handshake is pre-auth work too: it gets the same deadline as the RTMP setup.
    const deadline = setTimeout(() => tlsSocket.destroy(), this.#context.setupTimeoutMs);
    const finish = (): void => {
      clearTimeout(deadline);
      this.#guard.leave(placeholder);
    };
    // A client that does not speak TLS (a plain RTMP C0 on this port) or fails the handshake:
    // say so once, without the noise of a stack.
    const onError = (error: Error): void => {
      this.#log({
        level: 'info',
        event: 'rtmp.tls_refused',
        remote_address: remoteAddress,
        error: error.message.slice(0, 200),
      });
      tlsSocket.destroy();
    };
    tlsSocket.on('error', onError);
    tlsSocket.once('close', finish);
    tlsSocket.once('secure', () => {
      finish();
      tlsSocket.off('close', finish);
      tlsSocket.off('error', onError);
      // Leaving made its slot free: the RTMP connection takes it at once.
      this.#accept(tlsSocket, false);
    });
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
    const connection = new RtmpConnection(socket, this.#context);
    // Closed at birth only when the pre-auth table is full of connections being authorized.
    if (connection.closed) this.#refuse(socket, 'total_limit');
    else this.#connections.add(connection);
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

/** A socket in its TLS handshake, as the pre-auth guard counts it; eviction destroys it. */
class TlsHandshakePlaceholder implements GuardedConnection {
  readonly network: string;
  readonly preAuthStage = 'tls_handshake';
  readonly #socket: TLSSocket;

  constructor(socket: TLSSocket, remoteAddress: string) {
    this.#socket = socket;
    this.network = toClientNetwork(remoteAddress);
  }

  closeByGuard(): void {
    this.#socket.destroy();
  }
}

function portOf(server: Server): number {
  const address = server.address();
  return address !== null && typeof address === 'object' ? address.port : 0;
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
