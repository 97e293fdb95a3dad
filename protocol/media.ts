// What the transcoder, the LiveStream object, the VOD and the clip code agree on about media,
// declared once: the 2-second contract (the GOP the transcoder forces is the playlists' target
// duration), the record of one segment, and the facts of one rendition. Stored rows and R2 JSON
// are parsed with these schemas, never cast.
import { z } from 'zod';
import { RenditionName } from './ingest.ts';

/**
 * Seconds between forced keyframes, and so the length of every segment. 2 s matches the GOP OBS
 * users are told to set, so passthrough needs no re-encode (docs/architecture.md, "Why these
 * numbers").
 */
export const GOP_SECONDS = 2;

/**
 * EXT-X-TARGETDURATION of every live playlist. "The EXTINF duration of each Media Segment ... when
 * rounded to the nearest integer, MUST be less than or equal to the Target Duration" (RFC 8216bis
 * 4.4.3.1), and the draft forbids changing it mid-stream: it is the GOP, fixed.
 */
export const TARGET_DURATION = GOP_SECONDS;

/** One finished segment of a rendition, as the live timeline lists it and the VOD keeps it. */
export const SegmentRecord = z.object({
  msn: z.number().int().nonnegative(),
  /** Seconds. */
  duration: z.number().nonnegative(),
  /** Epoch ms of the first sample (EXT-X-PROGRAM-DATE-TIME). */
  pdt: z.number(),
  /** Preceded by EXT-X-DISCONTINUITY (a new init, a reconnect). */
  discontinuity: z.boolean(),
  /** The init segment number (init-{n}.mp4) its samples need. */
  init: z.number().int().nonnegative(),
  /** An EXT-X-GAP stand-in: no media in R2, never clipped. */
  gap: z.boolean(),
});
export type SegmentRecord = z.infer<typeof SegmentRecord>;

/** A segment a VOD lists: never a GAP (it has bytes), with its size in R2. */
export const VodSegment = SegmentRecord.omit({ gap: true }).extend({
  /** Bytes in R2. */
  size: z.number().int().nonnegative(),
});
export type VodSegment = z.infer<typeof VodSegment>;

/** What a multivariant playlist (and a DASH AdaptationSet) says about one rendition. */
export const RenditionInfo = z.object({
  name: RenditionName,
  /** RFC 6381, e.g. "avc1.64001f,mp4a.40.2". */
  codecs: z.string(),
  /** Peak and average bits per second. */
  bandwidth: z.number(),
  averageBandwidth: z.number(),
  width: z.number().nullable(),
  height: z.number().nullable(),
  frameRate: z.number().nullable(),
});
export type RenditionInfo = z.infer<typeof RenditionInfo>;
