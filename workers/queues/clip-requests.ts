// clip-requests: the registration point for clip jobs. The VOD/clips side adds its handler for
// 'clip.requested' here; until then such messages are acked with a log line.
import type { EventHandlers } from './consume.ts';

export const clipRequestHandlers: EventHandlers = {};
