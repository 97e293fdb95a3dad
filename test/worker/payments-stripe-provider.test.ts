// The real Stripe provider in workerd, with only its HTTP transport replaced (the package's own
// createFetchHttpClient takes a fetch function): the Checkout Session request it sends carries the
// server's amount, the monthly recurrence for subscriptions, and the order id wherever the
// webhooks will need it (session, subscription, payment intent). Its webhook check is the same
// package call the fake provider's events pass.
import { describe, expect, it } from 'vitest';
import { WebhookRefused } from '../../workers/payments/provider.ts';
import { StripePaymentProvider, signLikeStripe } from '../../workers/payments/stripe-provider.ts';

interface Recorded {
  url: string;
  method: string;
  authorization: string | null;
  form: URLSearchParams;
}

function recordingFetch(recorded: Recorded[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    recorded.push({
      url: request.url,
      method: request.method,
      authorization: request.headers.get('Authorization'),
      form: new URLSearchParams(await request.text()),
    });
    const body = {
      id: 'cs_test_recorded',
      object: 'checkout.session',
      url: 'https://checkout.stripe.com/c/pay/cs_test_recorded',
    };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { 'Content-Type': 'application/json', 'Request-Id': 'req_1' },
    });
  };
}

const checkout = {
  orderId: 'ord_123',
  amountCents: 499,
  currency: 'usd',
  description: 'Tier 1 subscription to someone',
  successUrl: 'https://edgestream.example/someone',
  cancelUrl: 'https://edgestream.example/someone',
};

describe('the Stripe provider', () => {
  it('creates a monthly subscription Checkout Session at the server price, the order id on the subscription', async () => {
    const recorded: Recorded[] = [];
    const provider = new StripePaymentProvider('sk_test_key', 'whsec_x', { fetch: recordingFetch(recorded) });
    const session = await provider.createCheckout({ ...checkout, mode: 'subscription' });
    expect(session).toEqual({
      id: 'cs_test_recorded',
      url: 'https://checkout.stripe.com/c/pay/cs_test_recorded',
    });
    expect(recorded).toHaveLength(1);
    const [request] = recorded;
    expect(request?.url).toBe('https://api.stripe.com/v1/checkout/sessions');
    expect(request?.method).toBe('POST');
    expect(request?.authorization).toBe('Bearer sk_test_key');
    const form = Object.fromEntries(request?.form ?? []);
    expect(form).toMatchObject({
      mode: 'subscription',
      client_reference_id: 'ord_123',
      'metadata[order_id]': 'ord_123',
      'subscription_data[metadata][order_id]': 'ord_123',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'usd',
      'line_items[0][price_data][unit_amount]': '499',
      'line_items[0][price_data][recurring][interval]': 'month',
      success_url: checkout.successUrl,
    });
    expect(form['payment_intent_data[metadata][order_id]']).toBeUndefined();
  });

  it('creates a one-time payment session with the order id on the payment intent and no recurrence', async () => {
    const recorded: Recorded[] = [];
    const provider = new StripePaymentProvider('sk_test_key', 'whsec_x', { fetch: recordingFetch(recorded) });
    await provider.createCheckout({ ...checkout, mode: 'payment', amountCents: 700 });
    const form = Object.fromEntries(recorded[0]?.form ?? []);
    expect(form).toMatchObject({
      mode: 'payment',
      'payment_intent_data[metadata][order_id]': 'ord_123',
      'line_items[0][price_data][unit_amount]': '700',
    });
    expect(form['line_items[0][price_data][recurring][interval]']).toBeUndefined();
  });

  it("verifies Stripe's signature scheme with its webhook secret and refuses another secret's", async () => {
    const provider = new StripePaymentProvider('sk_test_key', 'whsec_real');
    const payload = JSON.stringify({
      id: 'evt_1',
      object: 'event',
      type: 'invoice.paid',
      created: 1,
      data: { object: {} },
    });
    const t = Math.floor(Date.now() / 1000);
    const good = await signLikeStripe(payload, 'whsec_real', t);
    expect(good).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(await provider.verifyWebhook(payload, good, Date.now())).toMatchObject({
      id: 'evt_1',
      type: 'invoice.paid',
    });
    const forged = await signLikeStripe(payload, 'whsec_other', t);
    await expect(provider.verifyWebhook(payload, forged, Date.now())).rejects.toBeInstanceOf(WebhookRefused);
    await expect(provider.verifyWebhook(payload, good, (t + 301) * 1000)).rejects.toBeInstanceOf(
      WebhookRefused,
    );
  });
});
