// The fake provider's hosted checkout (docs/payments.md): a page with the order and a Pay button;
// paying sends the events Stripe sends for that checkout, signed as Stripe signs them, through the
// real webhook path (signature check, record, queue). The objects' ids derive from the session id,
// so paying the same checkout twice sends the same payment and invoice: it is applied once.
import { html } from 'hono/html';
import {
  buildCheckoutCompleted,
  buildInvoiceEvent,
  buildSubscriptionEvent,
  type FakeEvent,
} from './fake-events.ts';
import { FakePaymentProvider } from './fake-provider.ts';
import type { OrderRow } from './orders.ts';
import type { PaymentProvider } from './provider.ts';
import { acceptWebhook } from './webhook.ts';

const MONTH_SECONDS = 30 * 86_400;

export function renderFakeCheckoutPage(order: OrderRow, sessionId: string) {
  const amount = `${(order.amount_cents / 100).toFixed(2)} ${order.currency.toUpperCase()}`;
  const what =
    order.kind === 'bits'
      ? `${order.bits ?? 0} Bits`
      : order.kind === 'tip'
        ? 'Tip'
        : order.kind === 'gift_subscription'
          ? `${order.quantity > 1 || !order.recipient_id ? `${order.quantity} gift subscriptions` : 'Gift subscription'}, tier ${(order.tier ?? 1000) / 1000}`
          : `Subscription, tier ${(order.tier ?? 1000) / 1000}, monthly`;
  return html`<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Test checkout</title></head>
  <body>
    <main>
      <h1>Test checkout</h1>
      <p>This is the built-in fake payment provider: no money moves.</p>
      <p data-testid="checkout-item">${what}</p>
      <p data-testid="checkout-amount">${amount}</p>
      <form method="post" action="/api/v1/payments/fake-checkout/${sessionId}/pay">
        <button type="submit">Pay ${amount}</button>
      </form>
      <p><a href="${order.return_path}">Cancel</a></p>
    </main>
  </body>
</html>`;
}

/** The events Stripe sends when `order`'s checkout completes. */
export function buildCheckoutEvents(order: OrderRow, sessionId: string, nowSeconds: number): FakeEvent[] {
  const suffix = sessionId.replace(/^cs_test_/, '');
  const paymentIntent = `pi_${suffix}`;
  const common = {
    orderId: order.id,
    amount: order.amount_cents,
    currency: order.currency,
    created: nowSeconds,
  };
  if (order.kind !== 'subscription') {
    return [
      buildCheckoutCompleted({ ...common, sessionId, mode: 'payment', paymentIntent, subscription: null }),
    ];
  }
  const subscriptionId = `sub_${suffix}`;
  const periodEnd = nowSeconds + MONTH_SECONDS;
  return [
    buildSubscriptionEvent({
      type: 'created',
      subscriptionId,
      orderId: order.id,
      status: 'active',
      cancelAtPeriodEnd: false,
      periodEnd,
      created: nowSeconds,
    }),
    buildInvoiceEvent({
      ...common,
      type: 'paid',
      invoiceId: `in_${suffix}`,
      subscriptionId,
      billingReason: 'subscription_create',
      periodEnd,
      paymentIntent,
    }),
    buildCheckoutCompleted({
      ...common,
      sessionId,
      mode: 'subscription',
      paymentIntent: null,
      subscription: subscriptionId,
    }),
  ];
}

/** Signs each event as Stripe does and hands it to the webhook, exactly as a delivery would arrive. */
export async function deliverFakeEvents(
  env: Env,
  provider: PaymentProvider,
  events: FakeEvent[],
): Promise<void> {
  if (!(provider instanceof FakePaymentProvider))
    throw new Error('Only the fake provider delivers its own events');
  for (const event of events) {
    const payload = JSON.stringify(event);
    const outcome = await acceptWebhook(
      env,
      provider,
      payload,
      await provider.sign(payload, Math.floor(Date.now() / 1000)),
    );
    if (outcome.kind === 'refused')
      throw new Error(`The fake provider's own event was refused: ${outcome.reason}`);
  }
}

export async function payFakeCheckout(env: Env, provider: PaymentProvider, order: OrderRow): Promise<void> {
  if (!order.provider_session_id) throw new Error('Order has no checkout session');
  await deliverFakeEvents(
    env,
    provider,
    buildCheckoutEvents(order, order.provider_session_id, Math.floor(Date.now() / 1000)),
  );
}
