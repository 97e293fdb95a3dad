// The provider's webhook: verify the signature (forged or stale ones are refused), record the event
// by its id before anything else, queue it, answer 200. The effect happens in the consumer
// (consumer.ts), because Stripe retries, does not order events, and wants a quick answer
// (https://docs.stripe.com/webhooks#acknowledge-events-immediately).
import { log } from '../../common/log.ts';
import type { PaymentProvider } from './provider.ts';
import { WebhookRefused } from './provider.ts';

/** Stripe's events are a few KiB; an invoice with many lines stays well below this. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

export type WebhookOutcome =
  | { kind: 'queued'; eventId: string }
  | { kind: 'duplicate'; eventId: string }
  | { kind: 'refused'; reason: string };

export async function acceptWebhook(
  env: Env,
  provider: PaymentProvider,
  payload: string,
  signature: string | undefined,
  now = Date.now(),
): Promise<WebhookOutcome> {
  let event: Awaited<ReturnType<PaymentProvider['verifyWebhook']>>;
  try {
    event = await provider.verifyWebhook(payload, signature, now);
  } catch (error) {
    if (!(error instanceof WebhookRefused)) throw error;
    log.warn('payment_webhook_refused', { reason: error.message });
    return { kind: 'refused', reason: error.message };
  }
  const inserted = await env.DB.prepare(
    'INSERT INTO payment_events (id, type, created, payload, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  )
    .bind(event.id, event.type, event.created, payload, now)
    .run();
  const processed = await env.DB.prepare('SELECT processed_at FROM payment_events WHERE id = ?')
    .bind(event.id)
    .first<{ processed_at: number | null }>();
  // A retry of an event not yet processed is queued again: if the first send was lost after the
  // row was written, this is the only way it gets applied. The consumer applies it once.
  if (inserted.meta.changes === 0 && processed?.processed_at != null)
    return { kind: 'duplicate', eventId: event.id };
  await env.PAYMENT_EVENTS.send({ event_id: event.id }, { contentType: 'json' });
  return { kind: 'queued', eventId: event.id };
}
