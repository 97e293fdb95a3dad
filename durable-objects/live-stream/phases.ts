// The phase machine of a channel's stream as pure transitions on its record:
//   idle → starting (a publisher is admitted) → live (its first part is listed)
//   live/starting → reconnecting (the publisher dropped; the reconnect window runs)
//   reconnecting → starting/live (the publisher came back inside the window: same stream)
//   reconnecting → ending (the window passed: ENDLIST) → ended (D1 and stream.ended settled)
// The LiveStream object does the I/O around each transition (storage, alarm, D1, R2).
import type { AuthorizeResponse, ChannelTier } from '../../protocol/ingest.ts';
import type { BeginPublishInput, StreamRecord, StreamSummary } from './types.ts';

export function isPublishing(record: StreamRecord | null): boolean {
  return record?.phase === 'starting' || record?.phase === 'live';
}

/** Over for viewers: ENDLIST, nothing more to wait for (settled in D1 or not yet). */
export function isEnded(record: StreamRecord | null): boolean {
  return record?.phase === 'ended' || record?.phase === 'ending';
}

export function isCurrentPublisher(record: StreamRecord | null, publishId: string): boolean {
  return isPublishing(record) && record?.publishId === publishId;
}

/** A new stream, not live until a part lands. */
export function createStreamRecord(input: BeginPublishInput, streamId: string): StreamRecord {
  return {
    streamId,
    channelId: input.channelId,
    tier: input.tier,
    phase: 'starting',
    publishId: crypto.randomUUID(),
    droppedAt: null,
    startedAt: null,
    endedAt: null,
    discontinuities: 0,
    hasThumbnail: false,
    liveAnnounced: false,
    traceId: input.traceId ?? null,
  };
}

/**
 * A publisher came back inside the reconnect window (or a dual publish's standby was promoted,
 * keeping the id it was admitted with): the same stream, a new publish.
 */
export function continueStream(
  record: StreamRecord,
  tier: ChannelTier,
  traceId: string | null,
  publishId: string = crypto.randomUUID(),
): void {
  record.publishId = publishId;
  record.traceId = traceId;
  record.phase = record.startedAt === null ? 'starting' : 'live';
  record.droppedAt = null;
  record.tier = tier;
  record.discontinuities++;
}

/** The first part is listed: viewers can watch. */
export function goLive(record: StreamRecord, now: number): void {
  record.startedAt = now;
  record.phase = 'live';
}

export function dropPublisher(record: StreamRecord, now: number): void {
  record.phase = 'reconnecting';
  record.publishId = null;
  record.droppedAt = now;
}

/** The stream ends for viewers where its publisher left it. */
export function beginEnding(record: StreamRecord, now: number): void {
  record.phase = 'ending';
  record.endedAt = record.droppedAt ?? now;
  record.publishId = null;
}

export function toAuthorizeResponse(
  record: StreamRecord,
  continued: boolean,
  nextMsn: number,
): AuthorizeResponse {
  return {
    channel_id: record.channelId,
    stream_id: record.streamId,
    publish_id: record.publishId ?? '',
    tier: record.tier,
    continued,
    next_msn: nextMsn,
  };
}

/** What the API says of the phase: a publish without media yet is still idle for viewers. */
export function toSummaryStatus(record: StreamRecord | null): StreamSummary['status'] {
  const phase = record?.phase ?? 'idle';
  return phase === 'starting' ? 'idle' : phase === 'ending' ? 'ended' : phase;
}
