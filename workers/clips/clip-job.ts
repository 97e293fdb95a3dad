// The clip job (consumer of clip.requested): cuts the clip's window out of the archived segments
// into clips/{clip_id}.mp4, copies the stream's thumbnail to clips/{clip_id}.jpg, and settles the
// row at ready or failed. Idempotent: a clip that is no longer processing is left alone, and the R2
// keys are the clip's own, so a duplicate run rewrites the same objects.
//
// Memory: a 60 s clip of an 8 Mb/s source is 60 MB, and a Worker has 128 MB. So the MP4 is never
// held whole: one pass reads the segments one at a time and keeps only fragment facts, which fix
// the header and the exact file length; a second pass copies each segment's fragments into a
// FixedLengthStream that R2 consumes as it goes, one segment in memory at a time.
import { z } from 'zod';
import { log } from '../../common/log.ts';
import { getInitKey, getSegmentKey, getThumbnailKey } from '../../media/live-keys.ts';
import { readInit } from '../../media/mp4/init.ts';
import { rewriteFragment } from '../../media/mp4/rewrite.ts';
import { getClipKey, getClipThumbnailKey } from '../../media/vod-keys.ts';
import { RenditionName } from '../../protocol/ingest.ts';
import type { SegmentRecord } from '../../protocol/media.ts';
import { deriveVodId, pickReferenceRendition } from '../vod/finalize-vod.ts';
import { readVodIndex } from '../vod/vod-index.ts';
import {
  type ClipCut,
  type ClipLayout,
  createClipCut,
  describeClip,
  pickFragments,
  planClip,
} from './clip-assembly.ts';

const ClipRow = z.object({
  id: z.string(),
  stream_id: z.string(),
  vod_id: z.string().nullable(),
  channel_id: z.string(),
  duration_seconds: z.number(),
  window_start: z.number(),
  status: z.enum(['processing', 'ready', 'failed']),
  renditions: z.string(),
  vod_status: z.string().nullable(),
});

export interface ClipSource {
  rendition: RenditionName;
  segments: SegmentRecord[];
}

/**
 * The rendition a stream's clips are cut from and its segment index: the VOD's stored copy once
 * the stream has one (the LiveStream object forgets the rows then), else the channel's LiveStream
 * object (a live stream, or an ended one not finalized yet).
 */
export async function loadClipSource(
  env: Env,
  channelId: string,
  streamId: string,
  renditionsJson: string,
): Promise<ClipSource | null> {
  const archived = await readVodIndex(env.MEDIA, await deriveVodId(streamId));
  const reference = archived?.[0];
  if (reference) {
    return {
      rendition: reference.info.name,
      segments: reference.segments.map((s) => ({ ...s, gap: false })),
    };
  }
  const names = z.array(RenditionName).catch([]).parse(JSON.parse(renditionsJson));
  const rendition = pickReferenceRendition(names);
  if (!rendition) return null;
  const index = await env.LIVE_STREAM.getByName(channelId).getSegmentIndex(rendition, streamId);
  return { rendition, segments: index.filter((s) => !s.gap) };
}

function markFailed(db: D1Database, clipId: string, reason: string): D1PreparedStatement[] {
  log.warn('clip_failed', { clip_id: clipId, reason });
  return [
    db
      .prepare(
        "UPDATE clips SET status = 'failed', failure_reason = ? WHERE id = ? AND status = 'processing'",
      )
      .bind(reason, clipId),
  ];
}

/** Past the DVR or part retention, or deleted with its VOD: the window cannot be cut any more. */
const MEDIA_GONE = 'The media of this window no longer exists';

async function readObject(bucket: R2Bucket, key: string): Promise<Uint8Array | null> {
  const object = await bucket.get(key);
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

/** Writes the clip MP4 to R2 as a stream of known length; false when a segment vanished meanwhile. */
async function writeClip(
  bucket: R2Bucket,
  clipId: string,
  segmentKeys: readonly string[],
  cut: ClipCut,
  layout: ClipLayout,
): Promise<boolean> {
  const { readable, writable } = new FixedLengthStream(layout.length);
  const upload = bucket.put(getClipKey(clipId), readable, {
    httpMetadata: { contentType: 'video/mp4', cacheControl: 'public, max-age=31536000, immutable' },
  });
  const writer = writable.getWriter();
  try {
    await writer.write(layout.head);
    let sequence = 0;
    for (const [index, fragments] of cut.picked.entries()) {
      const key = segmentKeys[index];
      if (fragments.length === 0 || key === undefined) continue;
      const bytes = await readObject(bucket, key);
      if (!bytes) throw new Error(MEDIA_GONE);
      for (const fragment of fragments) {
        sequence += 1;
        await writer.write(rewriteFragment(bytes, fragment, sequence, layout.shift));
      }
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error);
    // The aborted upload rejects too; its reason is the same error.
    await upload.catch(() => undefined);
    if (error instanceof Error && error.message === MEDIA_GONE) return false;
    throw error;
  }
  await upload;
  return true;
}

export async function processClip(env: Env, clipId: string, now: number): Promise<D1PreparedStatement[]> {
  const db = env.DB;
  const found = await db
    .prepare(
      `SELECT c.id, c.stream_id, c.vod_id, c.channel_id, c.duration_seconds, c.window_start, c.status,
              s.renditions, v.status AS vod_status
       FROM clips c JOIN streams s ON s.id = c.stream_id LEFT JOIN vods v ON v.id = c.vod_id
       WHERE c.id = ?`,
    )
    .bind(clipId)
    .first();
  if (!found) return [];
  const clip = ClipRow.parse(found);
  if (clip.status !== 'processing') return [];
  if (clip.vod_id !== null && clip.vod_status !== 'ready')
    return markFailed(db, clipId, 'The past broadcast was deleted or has expired');

  const source = await loadClipSource(env, clip.channel_id, clip.stream_id, clip.renditions);
  if (!source) return markFailed(db, clipId, 'The stream has no archived media');
  const plan = planClip(source.segments, clip.window_start, clip.duration_seconds);
  if (!plan.ok) return markFailed(db, clipId, plan.reason);

  const init = await readObject(env.MEDIA, getInitKey(clip.stream_id, source.rendition, plan.init));
  if (!init) return markFailed(db, clipId, MEDIA_GONE);
  const facts = readInit(init);
  const segmentKeys = plan.segments.map((s) => getSegmentKey(clip.stream_id, source.rendition, s.msn));
  // First pass: one segment in memory at a time, only its fragment facts kept.
  const cut = createClipCut();
  for (const key of segmentKeys) {
    const bytes = await readObject(env.MEDIA, key);
    if (!bytes) return markFailed(db, clipId, MEDIA_GONE);
    pickFragments(cut, bytes, facts, clip.duration_seconds);
    if (cut.full) break;
  }
  const layout = describeClip(init, facts, cut);
  if (!(await writeClip(env.MEDIA, clipId, segmentKeys, cut, layout)))
    return markFailed(db, clipId, MEDIA_GONE);
  await copyThumbnail(env.MEDIA, clip.stream_id, clipId);
  // Settled here, not in the caller's batch: a clip deleted while it was cut (DELETE /clips/{id}
  // removes the row first) finds no row, and the media just uploaded must not outlive it.
  const settled = await db
    .prepare(
      "UPDATE clips SET status = 'ready', ready_at = ?, failure_reason = NULL WHERE id = ? AND status = 'processing'",
    )
    .bind(now, clipId)
    .run();
  if (settled.meta.changes === 0) {
    const row = await db.prepare('SELECT 1 FROM clips WHERE id = ?').bind(clipId).first();
    if (!row) await env.MEDIA.delete([getClipKey(clipId), getClipThumbnailKey(clipId)]);
    return [];
  }
  log.info('clip_ready', { clip_id: clipId, seconds: cut.seconds, bytes: layout.length });
  return [];
}

/** Clips are kept forever; the stream's thumbnail goes with its VOD, so the clip keeps a copy. */
async function copyThumbnail(bucket: R2Bucket, streamId: string, clipId: string): Promise<void> {
  const thumbnail = await bucket.get(getThumbnailKey(streamId));
  if (!thumbnail) return;
  await bucket.put(getClipThumbnailKey(clipId), thumbnail.body, {
    httpMetadata: { contentType: 'image/jpeg' },
  });
}
