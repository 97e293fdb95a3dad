// The clip job (consumer of clip.requested): cuts the clip's window out of the archived segments
// into clips/{clip_id}.mp4 and settles the row at ready or failed. Idempotent: a clip that is no
// longer processing is left alone, and the R2 key is the clip's own, so a duplicate run rewrites
// the same object.
import { z } from 'zod';
import { getInitKey, getSegmentKey } from '../../durable-objects/live-stream/media-keys.ts';
import { RenditionName } from '../../protocol/ingest.ts';
import { assembleClip, type IndexedSegment, planClip } from './clip-assembly.ts';
import { pickReferenceRendition } from './finalize-vod.ts';
import { getClipKey } from './vod-keys.ts';

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
  segments: IndexedSegment[];
}

/** The rendition a stream's clips are cut from and its segment index (from the channel's LiveStream DO). */
export async function loadClipSource(
  env: Env,
  channelId: string,
  streamId: string,
  renditionsJson: string,
): Promise<ClipSource | null> {
  const names = z.array(RenditionName).catch([]).parse(JSON.parse(renditionsJson));
  const rendition = pickReferenceRendition(names);
  if (!rendition) return null;
  const segments = await env.LIVE_STREAM.getByName(channelId).getSegmentIndex(rendition, streamId);
  return { rendition, segments };
}

function markFailed(db: D1Database, clipId: string, reason: string): D1PreparedStatement[] {
  console.warn(JSON.stringify({ level: 'warn', msg: 'clip failed', clipId, reason }));
  return [
    db
      .prepare(
        "UPDATE clips SET status = 'failed', failure_reason = ? WHERE id = ? AND status = 'processing'",
      )
      .bind(reason, clipId),
  ];
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

  const keys = [
    getInitKey(clip.stream_id, source.rendition, plan.init),
    ...plan.segments.map((s) => getSegmentKey(clip.stream_id, source.rendition, s.msn)),
  ];
  const objects = await Promise.all(keys.map((key) => env.MEDIA.get(key)));
  const bodies: Uint8Array[] = [];
  for (const object of objects) {
    // Past the DVR or part retention, or deleted with its VOD: the window cannot be cut any more.
    if (!object) return markFailed(db, clipId, 'The media of this window no longer exists');
    bodies.push(new Uint8Array(await object.arrayBuffer()));
  }
  const [init, ...segments] = bodies;
  if (!init) return markFailed(db, clipId, 'The media of this window no longer exists');
  const clipped = assembleClip(init, segments, clip.duration_seconds);
  await env.MEDIA.put(getClipKey(clipId), clipped.bytes, {
    httpMetadata: { contentType: 'video/mp4', cacheControl: 'public, max-age=31536000, immutable' },
  });
  console.log(
    JSON.stringify({
      level: 'info',
      msg: 'clip ready',
      clipId,
      seconds: clipped.seconds,
      bytes: clipped.bytes.byteLength,
    }),
  );
  return [
    db
      .prepare(
        "UPDATE clips SET status = 'ready', ready_at = ?, failure_reason = NULL WHERE id = ? AND status = 'processing'",
      )
      .bind(now, clipId),
  ];
}
