// A past broadcast's segment index, kept in R2 next to its playlists (vods/{vod}/index.json): the
// renditions and every segment the VOD lists. Finalizing writes it once; clips of the ended stream
// and a retried finalization read it; and the LiveStream object can then forget the stream's rows.
import { z } from 'zod';
import type { VodRendition } from '../../media/hls/vod-playlist.ts';
import { getVodIndexKey } from '../../media/vod-keys.ts';
import { RenditionInfo, VodSegment } from '../../protocol/media.ts';

const VodIndex = z.object({
  stream_id: z.string(),
  /** In ladder order; the first is the reference rendition (the VOD's clock, clips). */
  renditions: z.array(z.object({ info: RenditionInfo, segments: z.array(VodSegment) })),
});

export async function writeVodIndex(
  bucket: R2Bucket,
  vodId: string,
  streamId: string,
  renditions: readonly VodRendition[],
): Promise<void> {
  const index: z.infer<typeof VodIndex> = { stream_id: streamId, renditions: [...renditions] };
  await bucket.put(getVodIndexKey(vodId), JSON.stringify(index), {
    httpMetadata: { contentType: 'application/json' },
  });
}

/** The stored index of a VOD; null when it has none (not finalized yet, or deleted). */
export async function readVodIndex(bucket: R2Bucket, vodId: string): Promise<VodRendition[] | null> {
  const object = await bucket.get(getVodIndexKey(vodId));
  if (!object) return null;
  return VodIndex.parse(await object.json()).renditions;
}
