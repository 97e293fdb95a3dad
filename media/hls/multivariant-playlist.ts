// The multivariant (master) playlist, the same for a live channel and a VOD: one EXT-X-STREAM-INF
// per rendition with BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION and FRAME-RATE (RFC 8216bis
// 4.4.6.2). Pure: no I/O.
import type { RenditionInfo } from '../../protocol/media.ts';

/**
 * Orders variants for the multivariant playlist: highest bandwidth first, except that a middle
 * video rendition goes first, because players start with the first variant listed ("the first
 * entry ... is the one clients play first") and a mid rendition starts fast without looking poor.
 */
export function orderVariants(renditions: readonly RenditionInfo[]): RenditionInfo[] {
  const byBandwidth = [...renditions].sort((a, b) => b.bandwidth - a.bandwidth);
  const video = byBandwidth.filter((r) => r.height !== null);
  const audio = byBandwidth.filter((r) => r.height === null);
  const start = video[Math.floor(video.length / 2)];
  if (!start) return audio;
  return [start, ...video.filter((r) => r !== start), ...audio];
}

export function renderMultivariantPlaylist(renditions: readonly RenditionInfo[]): string {
  // "EXT-X-INDEPENDENT-SEGMENTS ... in a Multivariant Playlist applies to every Media Segment."
  const lines = ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const rendition of orderVariants(renditions)) {
    const attributes = [
      `BANDWIDTH=${rendition.bandwidth}`,
      `AVERAGE-BANDWIDTH=${rendition.averageBandwidth}`,
      `CODECS="${rendition.codecs}"`,
    ];
    // An audio-only variant has no RESOLUTION and no FRAME-RATE.
    if (rendition.width !== null && rendition.height !== null) {
      attributes.push(`RESOLUTION=${rendition.width}x${rendition.height}`);
    }
    if (rendition.height !== null && rendition.frameRate !== null) {
      attributes.push(`FRAME-RATE=${rendition.frameRate.toFixed(3)}`);
    }
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${rendition.name}.m3u8`);
  }
  return `${lines.join('\n')}\n`;
}
