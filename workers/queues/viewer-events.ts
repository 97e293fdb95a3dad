// viewer-events: the chat shards' periodic totals become the live stream's counts.
import type { EventHandlers } from './consume.ts';

export const viewerEventHandlers: EventHandlers = {
  // A count is an absolute value, so it needs no dedupe record: a redelivery writes the same
  // numbers again. What it does need is an order guard: the current count is replaced only by a
  // measurement at least as recent (viewer_count_at), while the peak and unique totals take the
  // maximum of every count, late or not. viewer_seconds (average viewers, the audience-tier program
  // in workers/api/lib/tier-program.ts) adds the previous count over the time to this newer one,
  // at most 30 s of it (a gap in reports is not counted as watched); a redelivered or late count
  // adds nothing, so the sum needs no dedupe either.
  'viewer.count': {
    dedupe: false,
    handle: async (event, env) => [
      env.DB.prepare(
        `UPDATE streams
         SET viewer_seconds = viewer_seconds + CASE
               WHEN viewer_count_at > 0 AND ?5 > viewer_count_at
               THEN viewer_count * min((?5 - viewer_count_at) / 1000, 30) ELSE 0 END,
             viewer_count = CASE WHEN ?5 >= viewer_count_at THEN ?1 ELSE viewer_count END,
             viewer_count_at = max(viewer_count_at, ?5),
             peak_viewers = max(peak_viewers, ?1),
             unique_viewers = max(unique_viewers, ?2)
         WHERE channel_id = ?3 AND status = 'live' AND (?4 IS NULL OR id = ?4)`,
      ).bind(event.viewers, event.unique_viewers, event.channel_id, event.stream_id, event.occurred_at),
    ],
  },
};
