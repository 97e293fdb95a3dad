// viewer-events: the chat shards' periodic totals become the live stream's counts.
import type { EventHandlers } from './consume.ts';

export const viewerEventHandlers: EventHandlers = {
  'viewer.count': async (event, env) => [
    env.DB.prepare(
      `UPDATE streams SET viewer_count = ?1, peak_viewers = max(peak_viewers, ?1),
              unique_viewers = max(unique_viewers, ?2)
       WHERE channel_id = ?3 AND status = 'live' AND (?4 IS NULL OR id = ?4)`,
    ).bind(event.viewers, event.unique_viewers, event.channel_id, event.stream_id),
  ],
};
