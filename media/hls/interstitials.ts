// Ad breaks as HLS Interstitials (RFC 8216bis, Appendix D; Apple's "HLS Interstitials"): an
// EXT-X-DATERANGE of CLASS "com.apple.hls.interstitial" tells the player to pause the primary
// content at START-DATE and play the assets listed by X-ASSET-LIST (a JSON document the Worker
// serves per viewer, so a subscriber's list is empty and the player skips the break).

/** "The CLASS attribute ... of com.apple.hls.interstitial." */
export const INTERSTITIAL_CLASS = 'com.apple.hls.interstitial';

export interface Interstitial {
  id: string;
  /** Wall-clock start; the playlists' PROGRAM-DATE-TIME is the ingest wall clock too. */
  startMs: number;
  durationSeconds: number;
  /** Where the player fetches the break's assets (`{"ASSETS": [{URI, DURATION}]}`). */
  assetListUri: string;
}

/**
 * The DATERANGE lines for the breaks that end at or after `windowStartMs` (the first listed
 * segment's date): "If a Playlist contains an EXT-X-DATERANGE tag, it MUST also contain at least
 * one EXT-X-PROGRAM-DATE-TIME tag", which every live playlist here does. X-RESTRICT="SKIP,JUMP"
 * keeps a viewer from seeking past an ad; a subscriber's empty asset list is what skips it.
 */
export function renderInterstitials(breaks: readonly Interstitial[], windowStartMs: number): string[] {
  return breaks
    .filter((ad) => ad.startMs + ad.durationSeconds * 1000 >= windowStartMs)
    .map(
      (ad) =>
        `#EXT-X-DATERANGE:ID="ad-${ad.id}",CLASS="${INTERSTITIAL_CLASS}",START-DATE="${new Date(ad.startMs).toISOString()}",` +
        `DURATION=${ad.durationSeconds},X-ASSET-LIST="${ad.assetListUri}",X-RESTRICT="SKIP,JUMP"`,
    );
}
