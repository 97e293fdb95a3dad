// Where a live player that fell behind without the viewer asking should jump back to.
//
// hls.js closes small gaps itself: in low-latency mode it plays up to maxLiveSyncPlaybackRate
// (1.5x) while it is within one target duration of its target latency. Past that it treats the
// position as DVR playback on purpose and stays there, and it seeks back to the edge only past
// liveMaxLatencyDuration, which it accepts only beside a liveSyncDuration that would replace the
// playlist's PART-HOLD-BACK. So a viewer who joined as the stream started, or who sat through a
// stall while the origin caught up, stayed seconds behind for the rest of the stream (measured on a
// WHIP publish: 4.8-7.4 s behind, against 1.7 s for a viewer who joined later, docs/benchmarks.md).
//
// The rule: a viewer who is following live (did not rewind, pause or pick a chapter) and is more
// than one target duration past hls.js's target latency is moved to hls.js's live sync position, as
// soon as the media up to that position is buffered (a jump into unbuffered media would stall).
// Never during an ad break: hls.js plays it as an interstitial and resumes the primary itself.
//
// Self-contained on purpose (no imports, no module constants): the end-to-end test player installs
// these very functions into a bare hls.js page from their source text.

export interface LiveResyncInput {
  /** False once the viewer rewound, paused or picked a chapter; true again on Go live. */
  readonly following: boolean;
  readonly paused: boolean;
  /** An ad break (an HLS interstitial) is playing: the primary's playhead is not the viewer's. */
  readonly interstitial: boolean;
  /** hls.js's `latency`, seconds behind the live edge. */
  readonly latency: number;
  /** hls.js's `targetLatency` (PART-HOLD-BACK in low-latency mode). */
  readonly targetLatency: number | null;
  /** hls.js's `liveSyncPosition`, where a jump lands. */
  readonly liveSyncPosition: number | null;
  /** The playlist's EXT-X-TARGETDURATION: hls.js's own catch-up covers this much past its target. */
  readonly targetDuration: number;
  /** The end of the buffered range the playhead is in (the playhead itself when none). */
  readonly bufferedEnd: number;
}

/** The position to move the playhead to, or null when the player should be left alone. */
export function liveResyncTarget(input: LiveResyncInput): number | null {
  if (!input.following || input.paused || input.interstitial) return null;
  if (input.targetLatency === null || input.liveSyncPosition === null) return null;
  if (!Number.isFinite(input.latency) || !Number.isFinite(input.liveSyncPosition)) return null;
  // Within hls.js's own catch-up range (plus half a second, so the two never fight).
  const catchUpRange = input.targetLatency + Math.max(input.targetDuration, 1) + 0.5;
  if (input.latency <= catchUpRange) return null;
  if (input.bufferedEnd < input.liveSyncPosition) return null;
  return input.liveSyncPosition;
}

/** What bufferedEndAt reads of a media element. */
export interface PlayheadView {
  readonly currentTime: number;
  readonly buffered: { readonly length: number; start(index: number): number; end(index: number): number };
}

/** The end of the buffered range the playhead is in, or the playhead when it is in none. */
export function bufferedEndAt(video: PlayheadView): number {
  const now = video.currentTime;
  for (let index = 0; index < video.buffered.length; index += 1) {
    if (video.buffered.start(index) <= now + 0.1 && now <= video.buffered.end(index)) {
      return video.buffered.end(index);
    }
  }
  return now;
}

/** What stallNudgeTarget reads of the player, sampled every ~100 ms while playing. */
export interface StallNudgeInput {
  /** The element has played since it was loaded: a start-up wait is hls.js's to manage. */
  readonly started: boolean;
  readonly paused: boolean;
  readonly seeking: boolean;
  /** An ad break (an HLS interstitial) is playing: its timeline is hls.js's to manage. */
  readonly interstitial: boolean;
  /** For how long the playhead has not moved while playing, ms (0 while it moves). */
  readonly stuckMs: number;
  /** Nudges since the playhead last played 1 s on its own. */
  readonly nudges: number;
  readonly currentTime: number;
  /** bufferedEndAt(video): the end of the buffered range the playhead is in. */
  readonly bufferedEnd: number;
}

/**
 * Where to move a playhead that stands still with media buffered ahead of it, or null.
 *
 * Where a stream continues after a discontinuity (a reconnect, an encoder restart), the new
 * media's audio can start a few tens of milliseconds after the old audio ended. Chromium merges
 * so small a gap in `buffered`, so hls.js sees one unbroken range and neither skips nor nudges
 * (its nudge needs a visible hole), while the audio renderer waits at the gap: the video stood
 * still 2.2-3.9 s with a second of media buffered ahead, on half of ten node kills
 * (bench/fleet-failover.ts). A playhead stuck for 250 ms with at least 0.2 s (a part) buffered
 * ahead is moved 0.1 s forward, past the splice; a playhead waiting at the end of its buffer is
 * left alone. Two nudges that did not get it playing 1 s on its own mean the stall is something
 * else (a decoder too slow, a broken renderer): it is left to hls.js's own recovery, which each
 * seek would otherwise reset. The caller restarts its clock on every pause and seek.
 */
export function stallNudgeTarget(input: StallNudgeInput): number | null {
  if (!input.started || input.paused || input.seeking || input.interstitial) return null;
  if (input.nudges >= 2) return null;
  if (input.stuckMs < 250) return null;
  if (input.bufferedEnd - input.currentTime < 0.2) return null;
  return input.currentTime + 0.1;
}

/** What cushionRate reads of a live low-latency player, sampled every ~100 ms. */
export interface CushionInput {
  /**
   * False once the viewer rewound, paused or picked a chapter (true again on Go live), and once the
   * playlist has ended (its last media plays out at its own pace).
   */
  readonly following: boolean;
  readonly paused: boolean;
  readonly seeking: boolean;
  /** An ad break (an HLS interstitial) is playing: its timeline is hls.js's to manage. */
  readonly interstitial: boolean;
  /** Seconds buffered ahead of the playhead (bufferedEndAt(video) - currentTime). */
  readonly bufferAhead: number;
  /** The player is slowed now (the last answer was a rate). */
  readonly slowed: boolean;
}

/**
 * The rate to play a live stream at while its buffer is thin, or null to leave the rate to hls.js.
 *
 * hls.js plays faster towards its target latency only while more than 1 s is buffered and never
 * plays slower, so a viewer who joined settles with ~1 s buffered, but one who rode out a stall
 * (a node's loss: no new media for ~1.7 s) resumes on the first new part with a few tenths of a
 * second buffered and stays there, and the next stall shows almost whole: 1.3 s of frozen video
 * against 0.75 s for a settled viewer (bench/fleet-failover.ts). So below 0.6 s buffered the
 * stream plays at 0.9x until 1 s is buffered again (~4-7 s, pitch kept), the cushion a joining
 * viewer has; the caller keeps hls.js's own rate control out meanwhile. Nothing changes while the
 * viewer is not following live (or the stream has ended) or has paused, or during an ad break; a
 * seek neither starts nor ends it.
 */
export function cushionRate(input: CushionInput): number | null {
  if (!input.following || input.paused || input.interstitial) return null;
  // A seek while slowed is the player's own (a stall nudge, a live resync; a viewer's rewind has
  // stopped following first): the cushion holds through it. One while not slowed starts nothing.
  if (input.seeking) return input.slowed ? 0.9 : null;
  const thin = input.slowed ? input.bufferAhead < 1 : input.bufferAhead < 0.6;
  return thin ? 0.9 : null;
}
