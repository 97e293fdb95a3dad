// The payment webhooks end to end in workerd: signed as Stripe signs them (the official package's
// test helper), verified, recorded, applied by the consumer. Every event type is delivered twice
// and out of order: one effect, the right final state. Forged, stale and mismatched events change nothing.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { processPaymentEvent } from '../../workers/payments/consumer.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import {
  buildChargeRefunded,
  buildCheckoutCompleted,
  buildDisputeCreated,
  buildInvoiceEvent,
  buildSubscriptionEvent,
} from '../../workers/payments/fake-events.ts';
import { channelBitsAccount, ISSUANCE_ACCOUNT, runTransfer } from '../../workers/payments/ledger.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import {
  deliver,
  deliverTwice,
  postWebhook,
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

describe('refused webhooks change nothing', () => {
  async function bitsOrder() {
    const viewer = await signUp('bits');
    const checkout = await startCheckout(viewer.token, { kind: 'bits', bits: 100 });
    const order = await loadOrder(env.DB, checkout.order_id);
    if (!order) throw new Error('order missing');
    return { viewer, checkout, order };
  }

  async function countEvents(id: string): Promise<number> {
    const row = await env.DB.prepare('SELECT count(*) AS n FROM payment_events WHERE id = ?')
      .bind(id)
      .first<{ n: number }>();
    return row?.n ?? 0;
  }

  it('refuses a signature made with another secret (forged), before recording anything', async () => {
    const { viewer, checkout, order } = await bitsOrder();
    const [event] = buildCheckoutEvents(order, checkout.sessionId, now());
    if (!event) throw new Error('no event');
    const res = await postWebhook(event, { secret: 'whsec_attacker' });
    expect(res.status).toBe(400);
    expect((await readError(res)).code).toBe('bad_request');
    expect(await countEvents(event.id)).toBe(0);
    expect(await readBitsBalance(viewer.token)).toBe(0);
  });

  it('refuses a body changed after signing (a raised amount)', async () => {
    const { checkout, order } = await bitsOrder();
    const [event] = buildCheckoutEvents(order, checkout.sessionId, now());
    if (!event) throw new Error('no event');
    const res = await postWebhook(event, {
      tamper: (p) => p.replace('"amount_total":140', '"amount_total":1'),
    });
    expect(res.status).toBe(400);
    expect(await countEvents(event.id)).toBe(0);
  });

  it('refuses a correctly signed event whose timestamp is older than five minutes (a replay)', async () => {
    const { viewer, checkout, order } = await bitsOrder();
    const [event] = buildCheckoutEvents(order, checkout.sessionId, now());
    if (!event) throw new Error('no event');
    const res = await postWebhook(event, { timestamp: now() - 301 });
    expect(res.status).toBe(400);
    expect(await countEvents(event.id)).toBe(0);
    expect(await readBitsBalance(viewer.token)).toBe(0);
  });

  it('refuses a webhook with no signature header', async () => {
    const res = await callApi('/payments/webhook', { method: 'POST', rawBody: '{"id":"evt_x"}' });
    expect(res.status).toBe(400);
  });

  it('records but does not apply a signed event whose amount differs from the price table', async () => {
    const { viewer, checkout, order } = await bitsOrder();
    const event = buildCheckoutCompleted({
      sessionId: checkout.sessionId,
      orderId: order.id,
      mode: 'payment',
      amount: 1,
      currency: 'usd',
      paymentIntent: 'pi_cheap',
      subscription: null,
      created: now(),
    });
    expect(await deliver(event)).toBe('amount_mismatch');
    expect(await readBitsBalance(viewer.token)).toBe(0);
    expect((await loadOrder(env.DB, order.id))?.status).toBe('open');
    const payments = await env.DB.prepare('SELECT count(*) AS n FROM payments WHERE payment_intent = ?')
      .bind('pi_cheap')
      .first<{ n: number }>();
    expect(payments?.n).toBe(0);
  });

  it('prices checkouts on the server: an unknown bits pack or a tip out of bounds is refused', async () => {
    const viewer = await signUp('buyer');
    const streamer = await signUp('streamer');
    const pack = await callApi('/payments/checkout', {
      method: 'POST',
      token: viewer.token,
      body: { kind: 'bits', bits: 1 },
    });
    expect(pack.status).toBe(422);
    const tip = await callApi('/payments/checkout', {
      method: 'POST',
      token: viewer.token,
      body: { kind: 'tip', channel_id: streamer.channel.id, amount_cents: 1 },
    });
    expect(tip.status).toBe(422);
    const redirect = await callApi('/payments/checkout', {
      method: 'POST',
      token: viewer.token,
      body: { kind: 'bits', bits: 100, return_path: '//evil.example/' },
    });
    expect(redirect.status).toBe(400);
  });
});

describe('the fake provider', () => {
  it('serves a checkout page whose Pay button sends Stripe-signed events through the webhook', async () => {
    const streamer = await signUp('streamer');
    const viewer = await signUp('viewer');
    const checkout = await startCheckout(viewer.token, {
      kind: 'subscription',
      channel_id: streamer.channel.id,
      tier: 3000,
      return_path: `/${streamer.channel.name}`,
    });
    expect(checkout.amount_cents).toBe(2499);
    const page = await SELF.fetch(checkout.checkout_url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Subscription, tier 3, monthly');
    const paid = await SELF.fetch(`${checkout.checkout_url}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('Location')).toBe(`/${streamer.channel.name}`);
    const { results } = await env.DB.prepare('SELECT id FROM payment_events WHERE payload LIKE ?')
      .bind(`%${checkout.order_id}%`)
      .all<{ id: string }>();
    expect(results).toHaveLength(3);
    for (const row of results) await processPaymentEvent(env, row.id);
    expect(await readSubscription(viewer.user.id, streamer.channel.id)).toMatchObject({
      tier: 3000,
      cumulative_months: 1,
    });
  });
});

describe('checkout limits', () => {
  it('refuses a 21st checkout in ten minutes with 429 and Retry-After, before writing an order', async () => {
    const buyer = await signUp('spender');
    for (let i = 0; i < 20; i++) await startCheckout(buyer.token, { kind: 'bits', bits: 100 });
    const res = await callApi('/payments/checkout', {
      method: 'POST',
      token: buyer.token,
      body: { kind: 'bits', bits: 100 },
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
    const orders = await env.DB.prepare('SELECT count(*) AS n FROM payment_orders WHERE user_id = ?')
      .bind(buyer.user.id)
      .first<{ n: number }>();
    expect(orders?.n).toBe(20);
  });
});

describe('earnings', () => {
  it('shows the owner subscriptions at the revenue share, bits cheered and tips; anyone else gets 403', async () => {
    const streamer = await signUp('earner');
    const fan = await signUp('fan');
    const sub = await startCheckout(fan.token, {
      kind: 'subscription',
      channel_id: streamer.channel.id,
      tier: 2000,
    });
    const tip = await startCheckout(fan.token, {
      kind: 'tip',
      channel_id: streamer.channel.id,
      amount_cents: 300,
    });
    for (const checkout of [sub, tip]) {
      const order = await loadOrder(env.DB, checkout.order_id);
      if (!order) throw new Error('order missing');
      await deliverTwice(buildCheckoutEvents(order, checkout.sessionId, now()));
    }
    await runTransfer(env.DB, {
      id: `cheer:${crypto.randomUUID()}`,
      kind: 'cheer',
      reference: 'msg',
      from: ISSUANCE_ACCOUNT,
      to: channelBitsAccount(streamer.channel.id),
      amount: 250,
      now: Date.now(),
    });
    const res = await callApi(`/payments/channels/${streamer.channel.id}/earnings`, {
      token: streamer.token,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      currency: 'usd',
      revenue_share_percent: 50,
      subscriptions_gross_cents: 999,
      subscriptions_share_cents: 499,
      bits_cheered: 250,
      bits_cents: 250,
      tips_cents: 300,
      total_cents: 1049,
    });
    const other = await callApi(`/payments/channels/${streamer.channel.id}/earnings`, { token: fan.token });
    expect(other.status).toBe(403);
  });

  it('refuses a webhook body over 64 KiB with 413 before reading it', async () => {
    const res = await callApi('/payments/webhook', {
      method: 'POST',
      rawBody: `{"pad":"${'x'.repeat(70 * 1024)}"}`,
      headers: { 'Stripe-Signature': 't=1,v1=00' },
    });
    expect(res.status).toBe(413);
  });
});
