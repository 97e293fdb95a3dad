// The one way the Worker puts a platform event on a Queue.
import type { PlatformEvent } from '../../protocol/events.ts';

export async function publishEvent(queue: Queue, event: PlatformEvent): Promise<void> {
  await queue.send(event, { contentType: 'json' });
}
