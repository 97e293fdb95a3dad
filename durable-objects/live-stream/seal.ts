// Sealing what a departed publisher left: each open segment becomes a whole segment made of its
// parts, so a player that only knows whole segments still gets them. The bytes go to R2 first
// (the parts concatenated, as the transcoder would have uploaded the segment), then the timeline
// lists the segment: a listed URI always exists.
import { applySegment, planSeal, type SegmentEntry, type Timeline } from '../../media/hls/timeline.ts';
import { getPartKey, getSegmentKey } from '../../media/live-keys.ts';
import { concatBytes } from '../../media/mp4/boxes.ts';
import type { RenditionName } from '../../protocol/ingest.ts';

/** Seals the open segments of one rendition; returns the segments it listed, oldest first. */
export async function sealOpenSegments(
  bucket: R2Bucket,
  streamId: string,
  rendition: RenditionName,
  timeline: Timeline,
): Promise<SegmentEntry[]> {
  const listed: SegmentEntry[] = [];
  for (const { msn, parts } of planSeal(timeline)) {
    const bodies = await Promise.all(
      parts.map(async (p) => {
        const object = await bucket.get(getPartKey(streamId, rendition, msn, p.part, p.publish));
        return object ? new Uint8Array(await object.arrayBuffer()) : new Uint8Array();
      }),
    );
    await bucket.put(getSegmentKey(streamId, rendition, msn), concatBytes(bodies), {
      httpMetadata: { contentType: 'video/mp4' },
    });
    const duration = parts.reduce((sum, p) => sum + p.duration, 0);
    listed.push(...applySegment(timeline, { msn, duration, pdt: parts[0]?.pdt ?? Date.now() }));
  }
  return listed;
}
