// The renditions of the current stream as playback sees them: their timelines in ladder order,
// the playlists rendered from them (cached until the next change, so every viewer released by the
// same part gets the same text, rendered once), and the requests held until a part exists. The
// LiveStream object feeds it commits; it knows nothing of publishers, D1 or R2.
import {
  canAwaitPart,
  decideBlockingReload,
  findPartPublish,
  isPositionListed,
  type ReloadDirectives,
} from '../../media/hls/blocking-reload.ts';
import type { Interstitial } from '../../media/hls/interstitials.ts';
import { renderMediaPlaylist } from '../../media/hls/live-playlist.ts';
import { renderMultivariantPlaylist } from '../../media/hls/multivariant-playlist.ts';
import {
  fillGapTo,
  getLastPart,
  hasMedia,
  type SegmentEntry,
  type Timeline,
} from '../../media/hls/timeline.ts';
import { RENDITION_NAMES, type RenditionName } from '../../protocol/ingest.ts';
import type { RenditionInfo } from '../../protocol/media.ts';
import type { Busy, LiveStreamTimings, PartOutcome, PlaylistOutcome } from './types.ts';
import { Waiters } from './waiters.ts';

/** What the playlists need to know of the stream: the object's phase machine answers. */
export interface StreamView {
  streamId: string;
  /** The number of the current publish: the hinted part carries it. */
  publish: number;
  /** Over for viewers (ENDLIST), settled in D1 or not yet. */
  isEnded(): boolean;
  /** Settled: "If the Playlist contains an EXT-X-ENDLIST tag, the server MUST ignore the directives." */
  isSettled(): boolean;
}

/** About one part target: by then a flood's own requests have been answered or timed out. */
const BUSY_RETRY_MS = 1000;
/** A part that is late, not refused: a player may ask again soon. */
const TOO_EARLY_RETRY_MS = 1000;

export class LivePlaylists {
  readonly #timelines = new Map<RenditionName, Timeline>();
  readonly #rendered = new Map<string, string>();
  /** Ad breaks of the current stream, oldest first; also in the object's SQLite (storage.ts). */
  #interstitials: Interstitial[] = [];
  readonly #waiters: Waiters;
  readonly #timings: () => LiveStreamTimings;

  constructor(timings: () => LiveStreamTimings) {
    this.#timings = timings;
    this.#waiters = new Waiters(() => timings().maxWaiters);
  }

  get(rendition: RenditionName): Timeline | undefined {
    return this.#timelines.get(rendition);
  }

  entries(): IterableIterator<[RenditionName, Timeline]> {
    return this.#timelines.entries();
  }

  /** Where the media listed in any rendition ends (epoch ms); 0 before anything was listed. */
  listedMediaEnd(): number {
    let end = 0;
    for (const timeline of this.#timelines.values()) {
      const last = timeline.segments.findLast((segment) => !segment.gap);
      if (last !== undefined) end = Math.max(end, last.pdt + last.duration * 1000);
    }
    return Math.round(end);
  }

  /** The renditions' names in ladder order, as the D1 row keeps them. */
  getNamesJson(): string {
    return JSON.stringify([...this.#timelines.keys()]);
  }

  getInfos(options: { withMediaOnly: boolean }): RenditionInfo[] {
    const timelines = [...this.#timelines.values()];
    return (options.withMediaOnly ? timelines.filter(hasMedia) : timelines).map((t) => t.info);
  }

  /** Adds a rendition, keeping ladder order (RENDITION_NAMES) however their inits arrived. */
  add(rendition: RenditionName, timeline: Timeline): void {
    const entries = [...this.#timelines, [rendition, timeline] as const];
    entries.sort(([a], [b]) => RENDITION_NAMES.indexOf(a) - RENDITION_NAMES.indexOf(b));
    this.#timelines.clear();
    for (const [name, value] of entries) this.#timelines.set(name, value);
  }

  /** A new stream: no renditions yet. */
  clear(): void {
    this.#timelines.clear();
    this.#rendered.clear();
    this.#interstitials = [];
  }

  /** The ad break running at `now`, if any. */
  findRunningInterstitial(now: number): Interstitial | null {
    return this.#interstitials.find((ad) => now < ad.startMs + ad.durationSeconds * 1000) ?? null;
  }

  /** Lists an ad break in every media playlist from now on; breaks older than `keepAfterMs` go. */
  addInterstitial(ad: Interstitial, keepAfterMs: number): void {
    this.#interstitials = [
      ...this.#interstitials.filter((old) => old.startMs + old.durationSeconds * 1000 >= keepAfterMs),
      ad,
    ];
    this.#rendered.clear();
  }

  /** A timeline changed: every playlist may change (each reports the other renditions' last parts). */
  changed(rendition: RenditionName | null): void {
    this.#rendered.clear();
    if (rendition !== null) this.#waiters.release(rendition);
  }

  /** The stream ended: every held request is answered (with ENDLIST). */
  ended(): void {
    this.#rendered.clear();
    this.#waiters.releaseAll();
  }

  /**
   * A publisher continues the stream: renditions that fell behind get GAP segments so every
   * rendition goes on at the same msn, and "the next segment gets EXT-X-DISCONTINUITY" (the new
   * publisher's timestamps start afresh). Returns that msn and the GAP segments to store.
   */
  alignForNextPublish(now: number): { nextMsn: number; gaps: Array<[RenditionName, SegmentEntry[]]> } {
    let nextMsn = 0;
    for (const timeline of this.#timelines.values()) nextMsn = Math.max(nextMsn, timeline.nextMsn ?? 0);
    const gaps: Array<[RenditionName, SegmentEntry[]]> = [];
    for (const [name, timeline] of this.#timelines) {
      const added = fillGapTo(timeline, nextMsn, now);
      if (added.length > 0) gaps.push([name, added]);
      timeline.discontinuityPending = true;
    }
    this.#rendered.clear();
    return { nextMsn, gaps };
  }

  getMultivariantPlaylist(): string | null {
    const renditions = this.getInfos({ withMediaOnly: true });
    return renditions.length === 0 ? null : renderMultivariantPlaylist(renditions);
  }

  /** The media playlist of a rendition, held until `_HLS_msn`/`_HLS_part` is listed. */
  async getMediaPlaylist(
    stream: StreamView,
    rendition: RenditionName,
    directives: ReloadDirectives & { skip: boolean },
  ): Promise<PlaylistOutcome> {
    const timeline = this.#timelines.get(rendition);
    if (!timeline || !hasMedia(timeline))
      return { kind: 'not-found', message: 'No live media for this rendition' };
    const decision = decideBlockingReload(timeline, directives, stream.isSettled());
    if (decision.kind === 'bad-request') return { kind: 'bad-request', message: decision.message };
    if (decision.kind === 'wait') {
      const { msn, part } = decision;
      const waiting = this.#waiters.wait(
        `playlist ${stream.streamId} ${rendition} ${msn}.${part ?? '-'}`,
        rendition,
        () => stream.isEnded() || isPositionListed(timeline, msn, part),
        this.#timings().blockingTimeoutMs,
      );
      if (waiting === null) return busy();
      if (!(await waiting)) {
        const message = `Part ${msn}.${part ?? '-'} did not arrive in time`;
        return { kind: 'too-early', message, retryAfterMs: TOO_EARLY_RETRY_MS };
      }
    }
    return {
      kind: 'ok',
      body: this.#render(stream, rendition, timeline, directives.skip),
      blocking: directives.msn !== undefined,
    };
  }

  /**
   * Holds a request for a part file that is not in R2 yet until the part lands or cannot come:
   * the hinted part "must wait until the part exists, not 404". Gives the number of the publish
   * that uploaded it, which names its R2 key (a hint can outlive its publisher).
   */
  async waitForPart(
    stream: StreamView,
    rendition: RenditionName,
    msn: number,
    part: number,
  ): Promise<PartOutcome> {
    const timeline = this.#timelines.get(rendition);
    if (!timeline || stream.isEnded()) return { kind: 'not-found' };
    const known = findPartPublish(timeline, msn, part);
    if (known !== undefined) return { kind: 'ok', publish: known };
    if (!canAwaitPart(timeline, msn, part)) return { kind: 'not-found' };
    const waiting = this.#waiters.wait(
      `part ${stream.streamId} ${rendition} ${msn}.${part}`,
      rendition,
      () => !stream.isEnded() && findPartPublish(timeline, msn, part) !== undefined,
      this.#timings().blockingTimeoutMs,
    );
    if (waiting === null) return busy();
    const publish = (await waiting) ? findPartPublish(timeline, msn, part) : undefined;
    return publish === undefined ? { kind: 'not-found' } : { kind: 'ok', publish };
  }

  #render(stream: StreamView, rendition: RenditionName, timeline: Timeline, skip: boolean): string {
    const key = `${rendition}:${skip ? 'skip' : 'full'}`;
    const cached = this.#rendered.get(key);
    if (cached !== undefined) return cached;
    const others: Array<{ name: RenditionName; timeline: Timeline }> = [];
    for (const [name, other] of this.#timelines) {
      if (name !== rendition && getLastPart(other)) others.push({ name, timeline: other });
    }
    const body = renderMediaPlaylist({
      streamId: stream.streamId,
      rendition,
      timeline,
      others,
      ended: stream.isEnded(),
      skip,
      publish: stream.publish,
      interstitials: this.#interstitials,
    });
    this.#rendered.set(key, body);
    return body;
  }
}

function busy(): Busy {
  return { kind: 'busy', retryAfterMs: BUSY_RETRY_MS };
}
