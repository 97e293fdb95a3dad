// The LiveStream object's vocabulary: its phase machine's states, the record of the current stream,
// its timings, and the typed outcomes its RPC methods return. Outcomes speak the domain ("not
// found", "too early", "busy"); the origin Worker maps them to HTTP statuses in one place
// (workers/origin/outcomes.ts).
import { z } from 'zod';
import type { AuthorizeResponse, ChannelTier } from '../../protocol/ingest.ts';
import type { RenditionInfo } from '../../protocol/media.ts';
import { TARGET_DURATION } from '../../protocol/media.ts';

/**
 * 'ending': the stream is over for viewers (ENDLIST) but its D1 row and `stream.ended` are not
 * settled yet; the alarm retries until they are, and only then is the phase 'ended'.
 */
export const Phase = z.enum(['idle', 'starting', 'live', 'reconnecting', 'ending', 'ended']);
export type Phase = z.infer<typeof Phase>;

export interface StreamRecord {
  streamId: string;
  channelId: string;
  tier: ChannelTier;
  phase: Phase;
  publishId: string | null;
  droppedAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Also the number of the current publish: one more per continued publish. */
  discontinuities: number;
  hasThumbnail: boolean;
  /** The D1 row says live and `stream.started` is queued; retried on each part until it holds. */
  liveAnnounced: boolean;
  /**
   * The trace id of the current (or last) publish (common/trace.ts), from its `traceparent`; null
   * when the transcoder sent none. On the object's log lines and on the stream's queue events.
   */
  traceId: string | null;
}

/** The object's timings and bounds, fixed when it is constructed (readTimings). */
export interface LiveStreamTimings {
  /** "If the server cannot ... within three times the Target Duration, it SHOULD return 503." */
  blockingTimeoutMs: number;
  /** A publisher that neither uploads nor heart-beats for this long has dropped. */
  publisherTimeoutMs: number;
  /**
   * A publish that has uploaded media and then uploaded nothing for this long gives way to a new
   * publish with the channel's key (a reconnect through another ingest node after its node died).
   */
  takeoverSilenceMs: number;
  /** How long a dropped stream waits for its publisher to come back (docs/architecture.md). */
  reconnectWindowMs: number;
  /** How far back the live playlist lists segments. */
  dvrWindowSeconds: number;
  /**
   * Distinct things awaited at once (a blocking playlist's position, a hinted part), not requests:
   * requests for the same thing share one entry (waiters.ts), so a real audience needs a handful per
   * rendition; past the bound a request for a new thing gets 'busy' (503 + Retry-After) instead of
   * holding memory and timers for a flood.
   */
  maxWaiters: number;
}

export const MAX_WAITERS = 1000;

/**
 * A live publish uploads a part every 200 ms on every rendition; five in a row missing on all of
 * them means its pipeline or its node is gone (a node's loss is only certain after the fleet's 6 s
 * heartbeat timeout). Only a publisher holding the channel's stream key can take over, and a
 * publish that is still uploading is never displaced (docs/deploy.md, "Ingest node loss").
 */
export const TAKEOVER_SILENCE_MS = 1_000;

/** Production timings: the reconnect window and DVR window from the Worker's vars, the rest fixed. */
export function readTimings(
  env: Pick<Env, 'RECONNECT_WINDOW_SECONDS' | 'DVR_WINDOW_SECONDS'>,
): LiveStreamTimings {
  return {
    blockingTimeoutMs: 3 * TARGET_DURATION * 1000,
    publisherTimeoutMs: 10_000,
    takeoverSilenceMs: TAKEOVER_SILENCE_MS,
    reconnectWindowMs: Number(env.RECONNECT_WINDOW_SECONDS) * 1000,
    dvrWindowSeconds: Number(env.DVR_WINDOW_SECONDS),
    maxWaiters: MAX_WAITERS,
  };
}

export interface ChannelDefaults {
  title: string;
  category_id: number | null;
  language: string;
  tags: string[];
}

export interface BeginPublishInput {
  channelId: string;
  tier: ChannelTier;
  defaults: ChannelDefaults;
  /** The publish's trace id, already parsed by the origin; null without one. */
  traceId?: string | null;
  /** The encoder's backup publish (AuthorizeRequest.backup): admitted as a standby beside a live one. */
  backup?: boolean;
  /** A fleet node's relay of the source (AuthorizeRequest.relay): only ever admitted as a standby. */
  relay?: boolean;
}

/**
 * What a standby publish's claim gets: keep holding; go on air (`replaced`: the publish it took
 * over from, whose node's placement can be given back); or it is not the standby (any more).
 */
export type StandbyClaim =
  | { kind: 'standby' }
  | {
      kind: 'promoted';
      nextMsn: number;
      afterPdt: number;
      replaced: string | null;
      /** The replaced publish is the promoted one's standby now (a relay's source): its slots stay. */
      demoted: boolean;
    }
  /** `stale`: the publish is not the current one either, so nothing of it should hold a node's slots. */
  | { kind: 'gone'; stale: boolean };

/** What the publish on air saying its transcode failed gets (LiveStream.yieldAir). */
export type YieldOutcome = { kind: 'standby' } | { kind: 'kept' } | { kind: 'gone' };

/**
 * `replaced`: the publish id a stalled publish had when this one took over from it (its node's
 * placement can be given back), null otherwise.
 */
export type BeginPublishResult =
  | { ok: true; value: AuthorizeResponse; replaced: string | null }
  | { ok: false; code: 'already_publishing' };

/** `publish`: the number of this publish within its stream (0, then +1 per reconnect). */
export type PublisherCheck = { ok: true; streamId: string; publish: number } | { ok: false };

/** What settleStream did with a D1 stream row that still says live or pending. */
export type SettleOutcome = 'active' | 'settled' | 'unchanged';

/** Too many requests are held already: come back after `retryAfterMs`. */
export interface Busy {
  kind: 'busy';
  retryAfterMs: number;
}

/** What a media playlist request gets. */
export type PlaylistOutcome =
  | { kind: 'ok'; body: string; blocking: boolean }
  | { kind: 'not-found'; message: string }
  | { kind: 'bad-request'; message: string }
  /** The awaited part did not arrive within the blocking timeout. */
  | { kind: 'too-early'; message: string; retryAfterMs: number }
  | Busy;

/** What a request for a part file that is not in R2 yet gets: the publish that uploaded it, or not. */
export type PartOutcome = { kind: 'ok'; publish: number } | { kind: 'not-found' } | Busy;

export interface StreamSummary {
  stream_id: string | null;
  status: 'idle' | 'live' | 'reconnecting' | 'ended';
  renditions: RenditionInfo[];
  started_at: number | null;
  last_part_at: number | null;
  discontinuities: number;
}
