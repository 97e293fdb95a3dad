// The internal ingest API between the transcoder (containers/transcoder) and the origin
// (workers/origin). Both sides import these schemas; nothing else crosses that boundary.
//
// Every request carries `Authorization: Bearer <INGEST_SECRET>`. Paths:
//   POST /internal/ingest/authorize                                   AuthorizeRequest -> AuthorizeResponse
//   POST /internal/ingest/srt-passphrase                              SrtPassphraseRequest -> SrtPassphraseResponse (read-only)
//   PUT  /internal/ingest/:channelId/:publishId/init/:rendition        body: init segment (ftyp+moov), header X-Ingest-Meta: InitMeta
//   PUT  /internal/ingest/:channelId/:publishId/part/:rendition/:msn/:part   body: moof+mdat, X-Ingest-Meta: PartMeta
//   PUT  /internal/ingest/:channelId/:publishId/segment/:rendition/:msn      body: the whole segment, X-Ingest-Meta: SegmentMeta
//   PUT  /internal/ingest/:channelId/:publishId/thumbnail             body: image/jpeg
//   POST /internal/ingest/:channelId/:publishId/heartbeat             -> 204, or 409 when this publish was cut off
//   POST /internal/ingest/:channelId/:publishId/end                   EndRequest -> 204
//   POST /internal/ingest/:channelId/:publishId/standby               -> StandbyClaimResponse (a dual publish's standby; 409 once it is not)
//   POST /internal/ingest/:channelId/:publishId/yield                 -> YieldResponse (the publish on air, its transcode failing)
//   POST /internal/ingest/:channelId/:publishId/relay-target          -> RelayTargetResponse (where a fleet node relays its source)
// A publish that has been superseded or cut off (stream key reset) gets 409 on every call and the
// transcoder must drop the connection. Every call of a publish also carries its trace id as a W3C
// `traceparent` header (common/trace.ts); the origin ignores a malformed one.
import { z } from 'zod';

export const INGEST_META_HEADER = 'x-ingest-meta';

export const RENDITION_NAMES = ['source', '720p60', '480p30', '360p30', '160p30', 'audio'] as const;
export const RenditionName = z.enum(RENDITION_NAMES);
export type RenditionName = z.infer<typeof RenditionName>;

export const ChannelTier = z.enum(['none', 'affiliate', 'partner']);
export type ChannelTier = z.infer<typeof ChannelTier>;

export const AuthorizeRequest = z.object({
  stream_key: z.string().min(1).max(200),
  client_ip: z.string().max(64).optional(),
  /**
   * The encoder's backup publish (`?backup=1` on its backup server's address, docs/deploy.md "Dual
   * publish"): while another publish of the channel delivers, this one is admitted as its warm
   * standby instead of being refused.
   */
  backup: z.boolean().optional(),
  /**
   * The source relayed by the fleet node that holds the encoder's connection to a standby node
   * (`?relay=1`, docs/deploy.md "Relayed standby"): admitted only as the standby of the live publish
   * it copies, whose source stays alive when that publish loses its transcode, so the publish it
   * replaces on air becomes its standby rather than being cut off. Not the encoder's backup.
   */
  relay: z.boolean().optional(),
});
export type AuthorizeRequest = z.infer<typeof AuthorizeRequest>;

export const AuthorizeResponse = z.object({
  channel_id: z.string(),
  stream_id: z.string(),
  /** Identifies this publish session; every later call names it. */
  publish_id: z.string(),
  tier: ChannelTier,
  /** True when this publish continues a stream inside its reconnect window. */
  continued: z.boolean(),
  /** The media sequence number the first segment of this publish must carry. */
  next_msn: z.number().int().nonnegative(),
  /**
   * A continued publish: the keyframe interval the previous publish of the stream measured (the
   * same encoder reconnecting), so the new pipeline plans its ladder on the first keyframe instead
   * of waiting for a second one. Absent or null when unknown.
   */
  source_keyframe_interval_ms: z.number().int().positive().max(600_000).nullable().optional(),
  /**
   * This publish is the stream's warm standby (a dual publish): its pipeline runs but uploads
   * nothing, and asks POST .../standby every STANDBY_CLAIM_INTERVAL_MS until it is promoted.
   */
  standby: z.boolean().optional(),
});
export type AuthorizeResponse = z.infer<typeof AuthorizeResponse>;

/** How often a standby publish asks whether the active one stopped delivering. */
export const STANDBY_CLAIM_INTERVAL_MS = 200;

/**
 * The answer to a standby's claim: keep holding, or go on air. A promoted standby's first segment
 * carries `next_msn` after a discontinuity; `after_pdt` is where the media the origin listed ends
 * (epoch ms, 0 when nothing was listed), so the standby starts at its segment that holds that
 * moment: a viewer sees at most a segment again rather than wait for the next keyframe.
 */
export const StandbyClaimResponse = z.discriminatedUnion('state', [
  z.object({ state: z.literal('standby') }),
  z.object({
    state: z.literal('promoted'),
    next_msn: z.number().int().nonnegative(),
    after_pdt: z.number().nonnegative(),
  }),
]);
export type StandbyClaimResponse = z.infer<typeof StandbyClaimResponse>;

/**
 * The answer to the publish on air saying its transcode failed (its ffmpeg died with no in-node
 * standby to take over): `standby`, the stream's warm standby goes on air at its next claim and this
 * publish is its standby now (it holds its parts and claims); `kept`, there is no standby to hand
 * over to, and this publish stays on air while its ffmpeg restarts.
 */
export const YieldResponse = z.object({ state: z.enum(['standby', 'kept']) });
export type YieldResponse = z.infer<typeof YieldResponse>;

/**
 * Where a fleet node relays a stream's source for a standby (docs/deploy.md, "Relayed standby"):
 * another active node's RTMP ingest address with room for the stream, or null when none has.
 */
export const RelayTargetResponse = z.object({ rtmp_url: z.string().nullable() });
export type RelayTargetResponse = z.infer<typeof RelayTargetResponse>;

/**
 * SRT ingest (docs/srt.md): the channel's passphrase for a stream key, asked before authorize so a
 * wrong passphrase is refused with nothing created. 403 for an unknown key, like authorize.
 */
export const SrtPassphraseRequest = z.object({ stream_key: z.string().min(1).max(200) });
export type SrtPassphraseRequest = z.infer<typeof SrtPassphraseRequest>;
export const SrtPassphraseResponse = z.object({ passphrase: z.string().min(10).max(79) });
export type SrtPassphraseResponse = z.infer<typeof SrtPassphraseResponse>;

export const InitMeta = z.object({
  rendition: RenditionName,
  /** RFC 6381 codecs string, e.g. "avc1.64001f,mp4a.40.2". */
  codecs: z.string().min(1),
  /** Peak and average bits per second for the multivariant playlist. */
  bandwidth: z.number().int().positive(),
  average_bandwidth: z.number().int().positive(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  frame_rate: z.number().positive().optional(),
  /** Seconds; fixed for the life of the stream. */
  part_target: z.number().positive(),
});
export type InitMeta = z.infer<typeof InitMeta>;

export const PartMeta = z.object({
  rendition: RenditionName,
  msn: z.number().int().nonnegative(),
  part: z.number().int().nonnegative(),
  /** Seconds. */
  duration: z.number().positive(),
  independent: z.boolean(),
  /** Wall clock (epoch ms) of the part's first sample at ingest. */
  pdt: z.number(),
});
export type PartMeta = z.infer<typeof PartMeta>;

export const SegmentMeta = z.object({
  rendition: RenditionName,
  msn: z.number().int().nonnegative(),
  duration: z.number().positive(),
  parts: z.number().int().positive(),
  pdt: z.number(),
});
export type SegmentMeta = z.infer<typeof SegmentMeta>;

export const EndRequest = z.object({
  reason: z.enum(['publisher_closed', 'publisher_lost', 'transcoder_shutdown', 'cut_off']),
});
export type EndRequest = z.infer<typeof EndRequest>;

export const IngestMeta = z.discriminatedUnion('kind', [
  InitMeta.extend({ kind: z.literal('init') }),
  PartMeta.extend({ kind: z.literal('part') }),
  SegmentMeta.extend({ kind: z.literal('segment') }),
]);
export type IngestMeta = z.infer<typeof IngestMeta>;

/**
 * What the transcoder measured of the source since the publish began, sent with each heartbeat
 * (POST .../heartbeat, an optional JSON body): the origin derives the dashboard's stream health
 * warnings from it (durable-objects/live-stream/stream-health.ts).
 */
export const SourceHealth = z.object({
  /** RTMP bytes received since the publish began (a counter: the origin derives the bitrate). */
  bytes_in: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** The frame rate the source announced (onMetaData or the SPS); null when unknown. */
  source_fps: z.number().nonnegative().max(1000).nullable(),
  /** Frames per second ffmpeg reports encoding; null before its first progress line. */
  encode_fps: z.number().nonnegative().max(1000).nullable(),
  /** Media time between the source's last two keyframes; null until two arrived. */
  keyframe_interval_ms: z.number().int().nonnegative().max(600_000).nullable(),
  audio_present: z.boolean(),
  /** ffmpeg's speed (1.0 = real time); null before its first progress line. */
  encode_speed: z.number().nonnegative().max(1000).nullable(),
});
export type SourceHealth = z.infer<typeof SourceHealth>;

export const IngestHeartbeat = z.object({ health: SourceHealth.optional() });
