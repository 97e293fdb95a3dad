// What the rest of the transcoder sees of one accepted publish: its grant, an FLV byte stream and
// a single close event. Listener sets are small and typed; a throwing listener is logged and
// never reaches the socket code.
import type { AudioCodec, FlvMuxer, VideoCodec } from './flv.ts';

export type PublishCloseReason =
  | 'publisher_closed'
  | 'publisher_lost'
  | 'protocol_error'
  | 'kicked'
  | 'server_closed';

export interface PublishStats {
  readonly bytesIn: number;
  readonly videoCodec: VideoCodec | null;
  readonly audioCodec: AudioCodec | null;
  /** onMetaData's, else the SPS's. */
  readonly width: number | null;
  readonly height: number | null;
  readonly frameRate: number | null;
  /** Bits per second from onMetaData videodatarate; null when not announced. */
  readonly videoBitrate: number | null;
  /** Media time between the last two keyframes; ~2000 means the source GOP is 2 s. */
  readonly keyframeIntervalMs: number | null;
  readonly lastMediaTimestamp: number | null;
  /** Whether onMetaData announced audio; null before any metadata. */
  readonly audioAnnounced: boolean | null;
}

export interface PublishSession<Grant> {
  readonly grant: Grant;
  /**
   * The publish's trace id (common/trace.ts), minted when the publisher connected: on every log
   * line of this publish and, as `traceparent`, on every call to the origin for it.
   */
  readonly traceId: string;
  readonly streamKey: string;
  readonly app: string;
  readonly remoteAddress: string;
  /** A fleet node's relay of a source it holds (`relay=1`): never relayed again from here. */
  readonly relay: boolean;
  /**
   * Receives the FLV byte stream. The listener is called at once, synchronously, with the FLV
   * header and the cached metadata and sequence headers, then with every tag as it arrives.
   * Returns a function that removes the listener.
   */
  onMedia(listener: (flvBytes: Buffer) => void): () => void;
  /** Called once when the publish ends; at once if it already has. Returns a remover. */
  onClose(listener: (reason: PublishCloseReason) => void): () => void;
  /** Drops the publisher (default reason 'kicked'), e.g. when the origin says this publish was cut off. */
  close(reason?: PublishCloseReason): void;
  readonly stats: PublishStats;
  readonly closed: boolean;
}

export interface PublishSessionInit<Grant> {
  readonly grant: Grant;
  readonly traceId: string;
  readonly streamKey: string;
  readonly app: string;
  readonly remoteAddress: string;
  readonly relay?: boolean;
  readonly muxer: FlvMuxer;
  readBytesIn(): number;
  /** Closes the connection; the connection then calls `finish`. */
  closeConnection(reason: PublishCloseReason): void;
  logListenerError(error: unknown): void;
}

export interface PublishSessionHandle<Grant> {
  readonly session: PublishSession<Grant>;
  deliverMedia(flvBytes: Buffer): void;
  finish(reason: PublishCloseReason): void;
}

export function createPublishSession<Grant>(init: PublishSessionInit<Grant>): PublishSessionHandle<Grant> {
  const mediaListeners = new Set<(flvBytes: Buffer) => void>();
  const closeListeners = new Set<(reason: PublishCloseReason) => void>();
  let closeReason: PublishCloseReason | null = null;

  const callSafely = <T>(listener: (value: T) => void, value: T): void => {
    try {
      listener(value);
    } catch (error) {
      init.logListenerError(error);
    }
  };

  const session: PublishSession<Grant> = {
    grant: init.grant,
    traceId: init.traceId,
    streamKey: init.streamKey,
    app: init.app,
    remoteAddress: init.remoteAddress,
    relay: init.relay === true,
    onMedia(listener) {
      if (closeReason !== null) return () => {};
      mediaListeners.add(listener);
      callSafely(listener, init.muxer.getStartBytes());
      return () => mediaListeners.delete(listener);
    },
    onClose(listener) {
      if (closeReason !== null) {
        callSafely(listener, closeReason);
        return () => {};
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close(reason = 'kicked') {
      init.closeConnection(reason);
    },
    get stats(): PublishStats {
      return { bytesIn: init.readBytesIn(), ...init.muxer.stats };
    },
    get closed(): boolean {
      return closeReason !== null;
    },
  };

  return {
    session,
    deliverMedia(flvBytes) {
      for (const listener of mediaListeners) callSafely(listener, flvBytes);
    },
    finish(reason) {
      if (closeReason !== null) return;
      closeReason = reason;
      mediaListeners.clear();
      const listeners = [...closeListeners];
      closeListeners.clear();
      for (const listener of listeners) callSafely(listener, reason);
    },
  };
}
