// The Worker's queue consumer: one handler map per queue, and the dead-letter queues, whose
// messages are kept in D1 for operators.

import { withEventSub } from '../eventsub/dispatch.ts';
import { consumePaymentEvents, PAYMENT_EVENTS_QUEUE } from '../payments/consumer.ts';
import { clipRequestHandlers } from './clip-requests.ts';
import { consumeEvents, type EventHandlers, queueLog } from './consume.ts';
import { moderationEventHandlers } from './moderation-events.ts';
import { streamEventHandlers } from './stream-events.ts';
import { viewerEventHandlers } from './viewer-events.ts';

export const HANDLERS_BY_QUEUE: Record<string, EventHandlers> = {
  // EventSub's hand-off runs in the same handlers (workers/eventsub/dispatch.ts).
  'stream-events': withEventSub(streamEventHandlers),
  'viewer-events': viewerEventHandlers,
  'clip-requests': clipRequestHandlers,
  'moderation-events': withEventSub(moderationEventHandlers),
};

const DEAD_LETTER_SUFFIX = '-dlq';

async function storeDeadLetters(batch: MessageBatch, env: Env): Promise<void> {
  const db = env.DB;
  const now = Date.now();
  // The message id is the primary key, so a redelivered dead letter is stored once.
  await db.batch(
    batch.messages.map((message) =>
      db
        .prepare(
          'INSERT INTO dead_letters (id, queue, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
        )
        .bind(message.id, batch.queue, JSON.stringify(message.body) ?? 'null', now),
    ),
  );
  for (const message of batch.messages) {
    queueLog.error('dead_letter_stored', { queue: batch.queue, message_id: message.id });
  }
  batch.ackAll();
}

export async function consumeQueueBatch(batch: MessageBatch, env: Env): Promise<void> {
  if (batch.queue.endsWith(DEAD_LETTER_SUFFIX)) {
    await storeDeadLetters(batch, env);
    return;
  }
  // Payment events are provider webhooks, not platform events: their own consumer (docs/payments.md).
  if (batch.queue === PAYMENT_EVENTS_QUEUE) {
    await consumePaymentEvents(batch, env);
    return;
  }
  const handlers = HANDLERS_BY_QUEUE[batch.queue];
  if (!handlers) {
    queueLog.error('queue_unknown', { queue: batch.queue });
    batch.retryAll();
    return;
  }
  await consumeEvents(batch.queue, handlers, batch, env);
}
