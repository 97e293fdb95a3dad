// Payment requests that must be refused or bounded, on the real Worker and D1: forged, tampered and
// stale webhooks (nothing recorded), amounts that differ from the server's price table (recorded,
// nothing applied), checkout pricing and its rate limit, oversized bodies, and who sees earnings.
// Also the fake provider's checkout page, whose Pay button sends Stripe-signed events.
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { processPaymentEvent } from '../../workers/payments/consumer.ts';
import { buildCheckoutEvents } from '../../workers/payments/fake-checkout.ts';
import { buildCheckoutCompleted } from '../../workers/payments/fake-events.ts';
import { channelBitsAccount, ISSUANCE_ACCOUNT, runTransfer } from '../../workers/payments/ledger.ts';
import { loadOrder } from '../../workers/payments/orders.ts';
import { callApi, readError, signUp } from './api-helpers.ts';
import {
  deliver,
  deliverTwice,
  postWebhook,
  readBitsBalance,
  readSubscription,
  startCheckout,
} from './payments-fixtures.ts';

const now = () => Math.floor(Date.now() / 1000);

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
      ad_impressions: 0,
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
