// What an RTMP connection needs from its server (the narrow interface RtmpServer implements), the
// answer authorize gives, and the one way a stream key may appear in a log line.
import type { LogSink } from '../log.ts';
import type { PreAuthGuard } from './pre-auth-guard.ts';
import type { PublishSession } from './publish-session.ts';

export type AuthorizeResult<Grant> =
  | { ok: true; grant: Grant }
  | {
      ok: false;
      reason: 'bad_key' | 'already_publishing' | 'unavailable';
      /** What the publisher is told (NetStream.Publish.Failed's description), e.g. a full fleet. */
      message?: string;
    };

export interface AuthorizeRequest {
  app: string;
  streamKey: string;
  remoteAddress: string;
  /** The connection's trace id: the authorize call carries it to the origin. */
  traceId: string;
  /**
   * The encoder's backup publish of a dual publish (docs/deploy.md, "Dual publish"): `backup=1` in
   * the query of the application (a backup server address such as `rtmp://host/live?backup=1`) or of
   * the stream name (commands.ts).
   */
  backup: boolean;
  /**
   * A fleet node's relay of a source it holds (`relay=1`, docs/deploy.md "Relayed standby"): a
   * backup whose source outlives the transcode on air.
   */
  relay: boolean;
}

/** One structured line: `event` names it; the transcoder's logger adds time and service. */
export type RtmpLog = LogSink;

/** What a connection needs from its server; `Connection` is the connection class itself. */
export interface ConnectionContext<Grant, Connection> {
  readonly allowedApps: readonly string[];
  readonly setupTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Silence allowed once publishing: a live encoder sends every few tens of ms. */
  readonly publishIdleTimeoutMs: number;
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult<Grant>>;
  onPublish(session: PublishSession<Grant>): void;
  /** One publisher per key in this server: false when the key is taken. */
  claimStreamKey(streamKey: string): boolean;
  releaseStreamKey(streamKey: string): void;
  /** Told once, when the connection has closed, whatever the reason. */
  onConnectionClosed(connection: Connection): void;
  /** Counts this connection among the strangers until its publish is authorized. */
  readonly guard: PreAuthGuard;
  log: RtmpLog;
}

/** "first 4 chars + …": enough to tell keys apart in logs, not enough to publish with. */
export function maskStreamKey(streamKey: string): string {
  return `${streamKey.slice(0, 4)}…`;
}
