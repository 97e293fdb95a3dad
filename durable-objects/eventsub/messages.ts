// EventSub messages as Twitch sends them, shared by both transports
// (https://dev.twitch.tv/docs/eventsub/websocket-reference/,
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/): the subscription object, the
// notification a queue consumer hands to a transport, message ids, timestamps and the webhook
// signature. Lives below workers/ because the delivering objects use it too (imports run one way).
import { z } from 'zod';

/** The subscription as Helix lists it and every message carries it. */
export const SubscriptionView = z.object({
  id: z.string(),
  status: z.string(),
  type: z.string(),
  version: z.string(),
  condition: z.record(z.string(), z.string()),
  transport: z.union([
    z.object({ method: z.literal('webhook'), callback: z.string() }),
    z.object({ method: z.literal('websocket'), session_id: z.string() }),
  ]),
  created_at: z.string(),
  cost: z.number().int(),
});
export type SubscriptionView = z.infer<typeof SubscriptionView>;

/** One notification for one subscription, as the queue consumer hands it to a transport. */
export const Notification = z.object({
  /** Stable for this event and subscription: a redelivery carries the same id (consumers dedupe). */
  messageId: z.string(),
  subscription: SubscriptionView,
  event: z.record(z.string(), z.unknown()),
});
export type Notification = z.infer<typeof Notification>;

/**
 * "All timestamps are in RFC3339 format and use nanoseconds instead of milliseconds": the
 * millisecond clock padded to nine digits.
 */
export function formatEventSubTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * A message id derived from what it carries (the platform event's id, the subscription, and the
 * item of the event), so the at-least-once queue's redelivery of an event yields the same id:
 * "If Twitch resends the message, the message ID will be the same." UUID-shaped, as Twitch's.
 */
export async function deriveMessageId(...parts: string[]): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(parts.join('\u0000'))),
  );
  const hex = Array.from(digest.slice(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Twitch-Eventsub-Message-Signature: "sha256=" + hex HMAC-SHA256 over message id + timestamp +
 * raw body, keyed with the subscription's secret (handling-webhook-events, "Verifying the event
 * message").
 */
export async function signWebhookMessage(
  secret: string,
  messageId: string,
  timestamp: string,
  body: string,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(messageId + timestamp + body)),
  );
  return `sha256=${Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The WebSocket frame of a notification (websocket-reference, "Notification message"). */
export function renderWebSocketNotification(notification: Notification, now: number): string {
  const { subscription } = notification;
  return JSON.stringify({
    metadata: {
      message_id: notification.messageId,
      message_type: 'notification',
      message_timestamp: formatEventSubTimestamp(now),
      subscription_type: subscription.type,
      subscription_version: subscription.version,
    },
    payload: { subscription, event: notification.event },
  });
}

/** A revocation (websocket-reference, "Revocation message"; webhook: Twitch-Eventsub-Message-Type: revocation). */
export function buildRevocationBody(subscription: SubscriptionView): { subscription: SubscriptionView } {
  return { subscription };
}
