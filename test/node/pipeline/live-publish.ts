// A publish session as the RTMP server hands it to a pipeline (the socket is the only thing left
// out), and a feeder that delivers an FLV's tags through it at the pace of their timestamps.
import { createTraceId } from '../../../common/trace.ts';
import { FlvMuxer, type FlvTag } from '../../../containers/transcoder/src/rtmp/flv.ts';
import {
  createPublishSession,
  type PublishCloseReason,
  type PublishSessionHandle,
} from '../../../containers/transcoder/src/rtmp/publish-session.ts';
import type { AuthorizeResponse } from '../../../protocol/ingest.ts';

export interface Publish {
  handle: PublishSessionHandle<AuthorizeResponse>;
  /** The session's muxer: what is fed through it is what the session learns. */
  muxer: FlvMuxer;
  closeReason: () => PublishCloseReason | null;
}

export function openPublish(grant: AuthorizeResponse): Publish {
  const muxer = new FlvMuxer();
  let reason: PublishCloseReason | null = null;
  const handle: PublishSessionHandle<AuthorizeResponse> = createPublishSession({
    grant,
    traceId: createTraceId(),
    streamKey: 'live_test',
    app: 'live',
    remoteAddress: '127.0.0.1',
    muxer,
    readBytesIn: () => 0,
    // What the connection does: end the socket, then finish the session with the reason.
    closeConnection: (closeReason) => handle.finish(closeReason),
    logListenerError: (error) => {
      throw error;
    },
  });
  handle.session.onClose((closeReason) => {
    reason = closeReason;
  });
  return { handle, muxer, closeReason: () => reason };
}

/** Delivers one tag through the session at once, as the connection does for a media message. */
export function deliverTag(publish: Publish, tag: FlvTag): void {
  const flv = publish.muxer.push({
    csid: 6,
    type: tag.type,
    streamId: 1,
    timestamp: tag.timestamp,
    payload: tag.payload,
  });
  if (flv !== null) publish.handle.deliverMedia(flv);
}

/** Delivers the FLV's tags through the session at the pace of their timestamps, like a live encoder. */
export function feedInRealTime(publish: Publish, tags: FlvTag[]): { stop(): void } {
  let stopped = false;
  const started = Date.now();
  void (async () => {
    for (const tag of tags) {
      const wait = started + tag.timestamp - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopped || publish.handle.session.closed) return;
      deliverTag(publish, tag);
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}
