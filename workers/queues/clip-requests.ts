// clip-requests: the clip job. A failure that retrying cannot fix (the window's media is gone)
// settles the clip as failed; anything else throws, and the queue retries it (3 times, then the
// dead-letter queue).
import { processClip } from '../clips/clip-job.ts';
import type { EventHandlers } from './consume.ts';

export const clipRequestHandlers: EventHandlers = {
  'clip.requested': async (event, env) => processClip(env, event.clip_id, Date.now()),
};
