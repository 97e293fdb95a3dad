// Helpers for the payment tests: checkouts through the real API, webhooks signed with the official
// Stripe package's test helper and posted to the real endpoint, then applied by the real consumer.
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { z } from 'zod';
import { processPaymentEvent } from '../../workers/payments/consumer.ts';
import type { FakeEvent } from '../../workers/payments/fake-events.ts';
import { deriveFakeWebhookSecret } from '../../workers/payments/provider.ts';
import { signLikeStripe } from '../../workers/payments/stripe-provider.ts';
import { callApi } from './api-helpers.ts';

const CheckoutAnswer = z.object({ order_id: z.string(), checkout_url: z.string(), amount_cents: z.number() });

export async function startCheckout(token: string, body: Record<string, unknown>) {
  const res = await callApi('/payments/checkout', { method: 'POST', token, body });
  if (res.status !== 201) throw new Error(`checkout failed: ${res.status} ${await res.text()}`);
  const answer = CheckoutAnswer.parse(await res.json());
  const session = await env.DB.prepare('SELECT provider_session_id FROM payment_orders WHERE id = ?')
    .bind(answer.order_id)
    .first<{ provider_session_id: string }>();
  return { ...answer, sessionId: session?.provider_session_id ?? '' };
}

export interface PostOptions {
  /** Seconds; default now. */
  timestamp?: number;
  secret?: string;
  /** Replace the signed payload after signing (a tampered body). */
  tamper?: (payload: string) => string;
}

export async function postWebhook(event: FakeEvent, options: PostOptions = {}): Promise<Response> {
  const payload = JSON.stringify(event);
  const header = await signLikeStripe(
    payload,
    options.secret ?? (await deriveFakeWebhookSecret(env)),
    options.timestamp ?? Math.floor(Date.now() / 1000),
  );
  return callApi('/payments/webhook', {
    method: 'POST',
    rawBody: options.tamper ? options.tamper(payload) : payload,
    headers: { 'Stripe-Signature': header },
  });
}

/** Delivers `event` as Stripe would (signed POST) and applies it, as the queue consumer does. */
export async function deliver(event: FakeEvent): Promise<string> {
  const res = await postWebhook(event);
  expect(res.status).toBe(200);
  return processPaymentEvent(env, event.id);
}

/** Each event delivered twice, in the given order: Stripe retries and does not order events. */
export async function deliverTwice(events: FakeEvent[]): Promise<void> {
  for (const event of [...events, ...events]) await deliver(event);
}

const SubscriptionRow = z.object({
  tier: z.number(),
  cumulative_months: z.number(),
  streak_months: z.number(),
  expires_at: z.number(),
  status: z.string(),
  cancel_at_period_end: z.number(),
});

export async function readSubscription(userId: string, channelId: string) {
  const raw = await env.DB.prepare(
    `SELECT tier, cumulative_months, streak_months, expires_at, status, cancel_at_period_end
     FROM subscriptions WHERE user_id = ? AND channel_id = ?`,
  )
    .bind(userId, channelId)
    .first();
  return raw ? SubscriptionRow.parse(raw) : null;
}

export async function readSubscriberCount(channelId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT subscriber_count FROM channels WHERE id = ?')
    .bind(channelId)
    .first<{ subscriber_count: number }>();
  return row?.subscriber_count ?? -1;
}

export async function readAlerts(channelId: string) {
  const res = await callApi(`/payments/channels/${channelId}/alerts`);
  const body = z
    .object({
      data: z.array(
        z.object({ kind: z.string(), user_login: z.string(), amount: z.number(), message: z.string() }),
      ),
    })
    .parse(await res.json());
  return body.data;
}

export async function readBitsBalance(token: string): Promise<number> {
  const res = await callApi('/payments/bits/balance', { token });
  return z.object({ balance: z.number() }).parse(await res.json()).balance;
}
