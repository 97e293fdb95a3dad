// The payment webhooks end to end in workerd: signed as Stripe signs them (the official package's
// test helper), verified, recorded, applied by the consumer. Every event type is delivered twice
// and out of order: one effect, the right final state. (Refused and bounded requests:
// payments-refusals.test.ts.)
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import {
  buildChargeRefunded,
  buildDisputeCreated,
  buildInvoiceEvent,
  buildSubscriptionEvent,
} from '../../workers/payments/fake-events.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { signUp } from './api-helpers.ts';
import {
  deliverTwice,
  readAlerts,
  readBitsBalance,
  readSubscriberCount,
  readSubscription,
  startCheckout,
} from './payments-fixtures.ts';

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

async function subscribe() {
  const streamer = await signUp('streamer');
  const viewer = await signUp('viewer');
  const checkout = await startCheckout(viewer.token, {
    kind: 'subscription',
    channel_id: streamer.channel.id,
    tier: 1000,
  });
  const order = await loadOrder(env.DB, checkout.order_id);
  if (!order) throw new Error('order missing');
  const suffix = checkout.sessionId.replace(/^cs_test_/, '');
  return { streamer, viewer, checkout, order, subscriptionId: `sub_${suffix}`, firstPayment: `pi_${suffix}` };
}

function renewal(
  s: Awaited<ReturnType<typeof subscribe>>,
  created: number,
  periodEnd: number,
  paymentIntent = `pi_renew_${created}`,
) {
  return buildInvoiceEvent({
    type: 'paid',
    invoiceId: `in_renew_${s.subscriptionId}_${created}`,
    subscriptionId: s.subscriptionId,
    orderId: s.order.id,
    amount: s.order.amount_cents,
    currency: s.order.currency,
    billingReason: 'subscription_cycle',
    periodEnd,
    paymentIntent,
    created,
  });
}

describe('subscription webhooks', () => {
  it('creates one subscription from the checkout events delivered twice in reverse order', async () => {
    const s = await subscribe();
    const t = now();
    await deliverTwice(buildCheckoutEvents(s.order, s.checkout.sessionId, t).reverse());
    const row = await readSubscription(s.viewer.user.id, s.streamer.channel.id);
    expect(row).toMatchObject({ tier: 1000, cumulative_months: 1, streak_months: 1, status: 'active' });
    expect(row?.expires_at).toBe((t + 30 * DAY) * 1000);
    expect(await readSubscriberCount(s.streamer.channel.id)).toBe(1);
    expect((await readAlerts(s.streamer.channel.id)).map((a) => a.kind)).toEqual(['sub']);
    expect((await loadOrder(env.DB, s.order.id))?.status).toBe('paid');
  });

  it('renews: each paid invoice adds one month and extends access, however often it is delivered', async () => {
    const s = await subscribe();
    const t = now();
    await deliverTwice(buildCheckoutEvents(s.order, s.checkout.sessionId, t));
    await deliverTwice([renewal(s, t + 1, t + 60 * DAY)]);
    const row = await readSubscription(s.viewer.user.id, s.streamer.channel.id);
    expect(row).toMatchObject({ cumulative_months: 2, streak_months: 2, status: 'active' });
    expect(row?.expires_at).toBe((t + 60 * DAY) * 1000);
    expect((await readAlerts(s.streamer.channel.id)).map((a) => [a.kind, a.amount])).toEqual([
      ['sub', 1],
      ['resub', 2],
    ]);
  });

  it('keeps access for the grace period after a failed renewal, then the deletion ends it, in either order', async () => {
    const s = await subscribe();
    const t = now() - 31 * DAY;
    await deliverTwice(buildCheckoutEvents(s.order, s.checkout.sessionId, t));
    const failedAt = t + 30 * DAY;
    const failed = buildInvoiceEvent({
      type: 'payment_failed',
      invoiceId: 'in_failed',
      subscriptionId: s.subscriptionId,
      orderId: s.order.id,
      amount: s.order.amount_cents,
      currency: s.order.currency,
      billingReason: 'subscription_cycle',
      periodEnd: t + 60 * DAY,
      paymentIntent: 'pi_failed',
      created: failedAt,
    });
    await deliverTwice([failed]);
    const pastDue = await readSubscription(s.viewer.user.id, s.streamer.channel.id);
    expect(pastDue?.status).toBe('past_due');
    // grace_period_days = 3 in wrangler.toml: still a subscriber (badge, sub-only chat) until then.
    expect(pastDue?.expires_at).toBe((failedAt + 3 * DAY) * 1000);
    expect(await readSubscriberCount(s.streamer.channel.id)).toBe(1);
    const endedAt = failedAt + 3 * DAY;
    const deleted = buildSubscriptionEvent({
      type: 'deleted',
      subscriptionId: s.subscriptionId,
      orderId: s.order.id,
      status: 'unpaid',
      cancelAtPeriodEnd: false,
      periodEnd: t + 30 * DAY,
      endedAt,
      created: endedAt,
    });
    const olderUpdate = buildSubscriptionEvent({
      type: 'updated',
      subscriptionId: s.subscriptionId,
      orderId: s.order.id,
      status: 'past_due',
      cancelAtPeriodEnd: false,
      periodEnd: t + 30 * DAY,
      created: failedAt,
    });
    await deliverTwice([deleted, olderUpdate]);
    const ended = await readSubscription(s.viewer.user.id, s.streamer.channel.id);
    expect(ended?.status).toBe('ended');
    expect(ended?.expires_at).toBe(endedAt * 1000);
  });

  it('cancels at period end: access to the end of the paid period, ended after, in either order', async () => {
    const s = await subscribe();
    const t = now();
    await deliverTwice(buildCheckoutEvents(s.order, s.checkout.sessionId, t));
    const periodEnd = t + 30 * DAY;
    const canceling = buildSubscriptionEvent({
      type: 'updated',
      subscriptionId: s.subscriptionId,
      orderId: s.order.id,
      status: 'active',
      cancelAtPeriodEnd: true,
      periodEnd,
      created: t + 10,
    });
    await deliverTwice([canceling]);
    expect(await readSubscription(s.viewer.user.id, s.streamer.channel.id)).toMatchObject({
      status: 'canceling',
      cancel_at_period_end: 1,
      expires_at: periodEnd * 1000,
    });
    const deleted = buildSubscriptionEvent({
      type: 'deleted',
      subscriptionId: s.subscriptionId,
      orderId: s.order.id,
      status: 'canceled',
      cancelAtPeriodEnd: true,
      periodEnd,
      endedAt: periodEnd,
      created: periodEnd,
    });
    await deliverTwice([deleted, canceling]);
    expect(await readSubscription(s.viewer.user.id, s.streamer.channel.id)).toMatchObject({
      status: 'ended',
      expires_at: periodEnd * 1000,
      cumulative_months: 1,
    });
  });

  it('a refund ends access now and takes the month back; a refund before its invoice grants nothing', async () => {
    const s = await subscribe();
    const t = now();
    await deliverTwice(buildCheckoutEvents(s.order, s.checkout.sessionId, t));
    const refund = buildChargeRefunded({
      paymentIntent: s.firstPayment,
      amount: s.order.amount_cents,
      created: t + 5,
    });
    await deliverTwice([refund]);
    const refunded = await readSubscription(s.viewer.user.id, s.streamer.channel.id);
    expect(refunded).toMatchObject({ status: 'ended', cumulative_months: 0 });
    expect(refunded?.expires_at).toBeLessThanOrEqual(Date.now());
    expect(await readSubscriberCount(s.streamer.channel.id)).toBe(0);

    // The renewal's refund arrives first: the renewal, delivered after, grants no month.
    const early = buildChargeRefunded({
      paymentIntent: 'pi_early_refund',
      amount: s.order.amount_cents,
      created: t + 6,
    });
    await deliverTwice([early, renewal(s, t + 7, t + 60 * DAY, 'pi_early_refund')]);
    expect(await readSubscription(s.viewer.user.id, s.streamer.channel.id)).toMatchObject({
      cumulative_months: 0,
    });
    const payment = await env.DB.prepare('SELECT status FROM payments WHERE payment_intent = ?')
      .bind('pi_early_refund')
      .first<{ status: string }>();
    expect(payment?.status).toBe('refunded');
  });
});

describe('one-time payment webhooks', () => {
  it('credits a bits pack once when checkout.session.completed is delivered twice', async () => {
    const viewer = await signUp('bits');
    const checkout = await startCheckout(viewer.token, { kind: 'bits', bits: 500 });
    expect(checkout.amount_cents).toBe(700);
    const order = await loadOrder(env.DB, checkout.order_id);
    if (!order) throw new Error('order missing');
    await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, now()));
    expect(await readBitsBalance(viewer.token)).toBe(500);
  });

  it('a refunded bits pack takes the bits back; a refund delivered first means they are never credited', async () => {
    const viewer = await signUp('bits');
    const first = await startCheckout(viewer.token, { kind: 'bits', bits: 100 });
    const firstOrder = await loadOrder(env.DB, first.order_id);
    const second = await startCheckout(viewer.token, { kind: 'bits', bits: 500 });
    const secondOrder = await loadOrder(env.DB, second.order_id);
    if (!firstOrder || !secondOrder) throw new Error('order missing');
    const [paid] = buildCheckoutEvents(firstOrder, first.sessionId, now());
    const [early] = buildCheckoutEvents(secondOrder, second.sessionId, now());
    if (!paid || !early) throw new Error('no events');
    const refund = buildChargeRefunded({
      paymentIntent: `pi_${first.sessionId.replace(/^cs_test_/, '')}`,
      amount: 140,
      created: now(),
    });
    await deliverTwice([paid, refund]);
    expect(await readBitsBalance(viewer.token)).toBe(0);
    const earlyRefund = buildChargeRefunded({
      paymentIntent: `pi_${second.sessionId.replace(/^cs_test_/, '')}`,
      amount: 700,
      created: now(),
    });
    await deliverTwice([earlyRefund, early]);
    expect(await readBitsBalance(viewer.token)).toBe(0);
  });

  it('a tip shows one alert with its message; a dispute marks the payment disputed once', async () => {
    const streamer = await signUp('streamer');
    const fan = await signUp('fan');
    const checkout = await startCheckout(fan.token, {
      kind: 'tip',
      channel_id: streamer.channel.id,
      amount_cents: 500,
      message: 'Great run!',
    });
    const order = await loadOrder(env.DB, checkout.order_id);
    if (!order) throw new Error('order missing');
    const paymentIntent = `pi_${checkout.sessionId.replace(/^cs_test_/, '')}`;
    const dispute = buildDisputeCreated({ paymentIntent, amount: 500, created: now() });
    await deliverTwice([...buildCheckoutEvents(order, checkout.sessionId, now()), dispute]);
    const alerts = await readAlerts(streamer.channel.id);
    expect(alerts).toEqual([
      { kind: 'tip', user_login: fan.user.username.toLowerCase(), amount: 500, message: 'Great run!' },
    ]);
    const payment = await env.DB.prepare('SELECT status FROM payments WHERE payment_intent = ?')
      .bind(paymentIntent)
      .first<{ status: string }>();
    expect(payment?.status).toBe('disputed');
  });

  it('a gift subscription makes the named viewer a subscriber for a month', async () => {
    const streamer = await signUp('streamer');
    const gifter = await signUp('gifter');
    const lucky = await signUp('lucky');
    const checkout = await startCheckout(gifter.token, {
      kind: 'gift_subscription',
      channel_id: streamer.channel.id,
      tier: 2000,
      recipient_login: lucky.user.username,
    });
    const order = await loadOrder(env.DB, checkout.order_id);
    if (!order) throw new Error('order missing');
    await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, now()));
    expect(await readSubscription(lucky.user.id, streamer.channel.id)).toMatchObject({
      tier: 2000,
      cumulative_months: 1,
      status: 'active',
    });
    expect(await readSubscription(gifter.user.id, streamer.channel.id)).toBeNull();
    expect((await readAlerts(streamer.channel.id)).map((a) => [a.kind, a.message])).toEqual([
      ['gift', lucky.user.username.toLowerCase()],
    ]);
  });
});
